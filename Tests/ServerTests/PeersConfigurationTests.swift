// PeersConfigurationTests: --peer, --peer-token-file, --peer-ca and --peer-timeout parsing and their errors.
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersConfigurationTests {
    func tempFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "dmflt-peers-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    @Test func seedsAreParsedAndNormalized() throws {
        let c = try PeerConfiguration.parse(
            peers: ["b=http://127.0.0.1:7451/", "c=https://c.example:7450"], tokenFile: nil, caFile: nil,
            timeoutSeconds: 0.5, selfName: "a")
        #expect(
            c.seeds == [
                .init(name: "b", url: "http://127.0.0.1:7451"), .init(name: "c", url: "https://c.example:7450"),
            ])
        #expect(c.timeoutSeconds == 0.5)
        #expect(c.clusterToken == nil)
    }

    @Test(arguments: [
        "b", "b=", "=http://x", "b=ftp://x", "b=http://", "b=http://x?q=1", "local=http://x", "a=http://x",
        "b c=http://x", "b=http://user:pw@x",
    ])
    func badSeedsAreRefused(_ text: String) {
        #expect(throws: PeerConfiguration.Invalid.self) {
            try PeerConfiguration.parse(peers: [text], tokenFile: nil, caFile: nil, timeoutSeconds: nil, selfName: "a")
        }
    }

    @Test func duplicateSeedIsRefused() {
        #expect(throws: PeerConfiguration.Invalid.self) {
            try PeerConfiguration.parse(
                peers: ["b=http://x:1", "b=http://y:1"], tokenFile: nil, caFile: nil, timeoutSeconds: nil, selfName: "a"
            )
        }
    }

    @Test func tokenFileSkipsCommentsAndRefusesShortTokens() throws {
        let good = try tempFile("# cluster secret\n\n  0123456789abcdef0123  \n")
        #expect(try PeerConfiguration.readToken(good) == "0123456789abcdef0123")
        let short = try tempFile("short\n")
        #expect(throws: PeerConfiguration.Invalid.self) { try PeerConfiguration.readToken(short) }
        #expect(throws: PeerConfiguration.Invalid.self) { try PeerConfiguration.readToken("/nonexistent/token") }
        let open = try tempFile("0123456789abcdef0123\n")
        chmod(open, 0o644)
        #expect(throws: PeerConfiguration.Invalid.self) { try PeerConfiguration.readToken(open) }
    }

    @Test(arguments: [0.0, -1, 301, Double.nan])
    func badTimeoutsAreRefused(_ t: Double) {
        #expect(throws: PeerConfiguration.Invalid.self) {
            try PeerConfiguration.parse(peers: [], tokenFile: nil, caFile: nil, timeoutSeconds: t, selfName: "a")
        }
    }

    @Test func caFileMustHoldACertificate() throws {
        let notPEM = try tempFile("hello")
        #expect(throws: PeerConfiguration.Invalid.self) {
            try PeerConfiguration.parse(peers: [], tokenFile: nil, caFile: notPEM, timeoutSeconds: nil, selfName: "a")
        }
        let pem = try tempFile("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        let c = try PeerConfiguration.parse(peers: [], tokenFile: nil, caFile: pem, timeoutSeconds: nil, selfName: "a")
        #expect(c.caFile == pem)
    }
}
