// DaemonSettings: `dmfltd serve`'s options after every check, so the daemon starts only with a coherent setup.
import Foundation

struct DaemonSettings: Sendable {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    var listen: ListenAddress
    var stateDir: String
    var hostName: String
    var tokens: TokenStore?
    /// Read again on SIGHUP, with the TLS files.
    var tokenFile: String?
    var tlsFiles: TLSFiles?
    var peers: PeerConfiguration
    var tls: TLSCredentials?
    /// --insecure: an open daemon (no token file) may listen beyond loopback and be part of a cluster.
    var insecure: Bool
    var accessLog: AccessLogMode

    init(
        listen: String, stateDir: String, hostName: String, tokenFile: String?, peers: [String], tlsCert: String?,
        tlsKey: String?, insecure: Bool, peerTokenFile: String? = nil, peerCA: String? = nil,
        peerTimeout: Double? = nil,
        accessLog: String = "all"
    ) throws {
        guard let mode = AccessLogMode(rawValue: accessLog) else {
            throw Invalid(
                description:
                    "--access-log must be one of \(AccessLogMode.allCases.map(\.rawValue).joined(separator: ", ")), not '\(accessLog)'"
            )
        }
        self.accessLog = mode
        do {
            self.listen = try ListenAddress(parsing: listen)
        } catch {
            throw Invalid(description: "--listen: \(error)")
        }
        self.insecure = insecure
        guard !stateDir.isEmpty else { throw Invalid(description: "--state-dir must not be empty") }
        self.stateDir = stateDir
        try Self.checkHostName(hostName)
        self.hostName = hostName
        self.tokenFile = tokenFile
        if let tokenFile {
            do {
                tokens = try TokenStore(contentsOf: tokenFile)
            } catch {
                throw Invalid(description: "--token-file: \(error)")
            }
        }
        if tokens == nil && !self.listen.isLoopback && !insecure {
            throw Invalid(
                description:
                    "refusing to listen on \(self.listen) without --token-file: anyone who can connect could attach and detach filters; give a token file or --insecure"
            )
        }
        do {
            self.peers = try PeerConfiguration.parse(
                peers: peers, tokenFile: peerTokenFile, caFile: peerCA, timeoutSeconds: peerTimeout, selfName: hostName)
        } catch {
            throw Invalid(description: error.description)
        }
        if tokens == nil && !insecure && (!peers.isEmpty || peerTokenFile != nil) {
            throw Invalid(description: Self.openClusterRefusal)
        }
        switch (tlsCert, tlsKey) {
        case (nil, nil): tls = nil
        case (let cert?, let key?):
            tlsFiles = TLSFiles(certificate: cert, key: key)
            do {
                tls = try TLSCredentials(certificateFile: cert, keyFile: key)
            } catch {
                throw Invalid(description: "TLS: \(error)")
            }
        default: throw Invalid(description: "--tls-cert and --tls-key go together")
        }
    }

    /// `--tls-cert` and `--tls-key`.
    struct TLSFiles: Sendable, Equatable {
        var certificate: String
        var key: String
    }

    /// Without a token file every local user is an operator here, and a peer acts on every other host
    /// for whoever calls it: one host's open door would open the whole cluster.
    static let openClusterRefusal =
        "refusing to join a cluster (--peer, --peer-token-file or stored peers) without --token-file: every local user of this host would be an operator on every host; give a token file or --insecure"

    /// A DNS-like name; `local` is reserved for "the host that answers".
    static func checkHostName(_ name: String) throws {
        let ok =
            !name.isEmpty && name.utf8.count <= 253 && name.first != "-" && name.first != "."
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "." || $0 == "_")
            }
        guard ok else {
            throw Invalid(description: "--host-name '\(name)' must be 1 to 253 of letters, digits, '.', '_' and '-'")
        }
        guard name != "local" else {
            throw Invalid(description: "--host-name 'local' is reserved (it means this host)")
        }
    }

    static func systemHostName() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "localhost" }
        return withUnsafeBytes(of: &names.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}
