// DaemonSettingsTests: `dmfltd serve` refuses incoherent options before touching anything.
import Foundation
import Testing

@testable import dmfltd

@Suite struct DaemonSettingsTests {
    func settings(
        listen: String = "127.0.0.1:7450", hostName: String = "node1", tokenFile: String? = nil, peers: [String] = [],
        tlsCert: String? = nil, tlsKey: String? = nil, insecure: Bool = false, peerTokenFile: String? = nil
    ) throws -> DaemonSettings {
        try DaemonSettings(
            listen: listen, stateDir: "/tmp/x", hostName: hostName, tokenFile: tokenFile, peers: peers,
            tlsCert: tlsCert, tlsKey: tlsKey, insecure: insecure, peerTokenFile: peerTokenFile)
    }

    /// Why `serve` refuses these options, nil when it accepts them.
    func refusal(
        listen: String = "127.0.0.1:7450", hostName: String = "node1", tokenFile: String? = nil, peers: [String] = [],
        tlsCert: String? = nil, insecure: Bool = false, peerTokenFile: String? = nil
    ) -> String? {
        do {
            _ = try settings(
                listen: listen, hostName: hostName, tokenFile: tokenFile, peers: peers, tlsCert: tlsCert,
                insecure: insecure, peerTokenFile: peerTokenFile)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func defaultsAreAccepted() throws {
        let s = try settings()
        #expect(s.listen.port == 7450)
        #expect(s.tokens == nil)
        #expect(s.tls == nil)
    }

    @Test func anOpenNonLoopbackAddressNeedsTokensOrInsecure() throws {
        #expect(refusal(listen: "0.0.0.0:7450")?.contains("--token-file") == true)
        #expect(refusal(listen: "[::]:7450")?.contains("--token-file") == true)
        #expect(refusal(listen: "0.0.0.0:7450", insecure: true) == nil)
        #expect(refusal(listen: "[::1]:7450") == nil)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tok-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/tokens"
        try "operator 0123456789abcdef0123456789abcdef\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(try settings(listen: "0.0.0.0:7450", tokenFile: file).tokens?.count == 1)
        #expect(refusal(tokenFile: dir + "/missing")?.contains("--token-file") == true)
    }

    @Test func badValuesAreNamed() throws {
        #expect(refusal(listen: "localhost:7450")?.contains("--listen") == true)
        #expect(refusal(listen: "127.0.0.1:99999")?.contains("--listen") == true)
        #expect(refusal(hostName: "local")?.contains("reserved") == true)
        #expect(refusal(hostName: "")?.contains("--host-name") == true)
        #expect(refusal(hostName: "a b")?.contains("--host-name") == true)
        #expect(refusal(peers: ["nourl"])?.contains("--peer") == true)
        #expect(refusal(hostName: "node1", peers: ["node1=http://10.0.0.1:7450"])?.contains("own name") == true)
        #expect(refusal(tlsCert: "/tmp/c.pem")?.contains("go together") == true)
        #expect(try settings(peers: ["b=http://10.0.0.2:7450"], insecure: true).peers.seeds.map(\.name) == ["b"])
    }

    @Test func anOpenHostJoinsNoClusterWithoutInsecure() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-open-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = dir + "/cluster"
        try "cluster-secret-0123456789\n".write(toFile: secret, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: secret)
        let tokens = dir + "/tokens"
        try "operator 0123456789abcdef0123456789abcdef\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokens)
        for refused in [
            refusal(peers: ["b=http://10.0.0.2:7450"]), refusal(peerTokenFile: secret),
            refusal(peers: ["b=http://10.0.0.2:7450"], peerTokenFile: secret),
        ] {
            #expect(refused?.contains("without --token-file") == true)
            #expect(refused?.contains("--insecure") == true)
        }
        #expect(refusal(peers: ["b=http://10.0.0.2:7450"], insecure: true, peerTokenFile: secret) == nil)
        #expect(refusal(tokenFile: tokens, peers: ["b=http://10.0.0.2:7450"], peerTokenFile: secret) == nil)
    }

    @Test func theStateDirectoryIsPrivateAndHasOneDaemon() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-sd-\(UUID())/state").path
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        try StateDirectory.prepare(dir)
        let mode = try FileManager.default.attributesOfItem(atPath: dir)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        let first = try StateDirectory.lockExclusively(dir)
        #expect(throws: StateDirectory.Failure.self) { _ = try StateDirectory.lockExclusively(dir) }
        close(first)
        close(try StateDirectory.lockExclusively(dir))
    }
}
