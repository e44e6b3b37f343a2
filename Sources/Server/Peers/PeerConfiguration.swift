// PeerConfiguration: the peer options of `dmfltd serve` (--peer, --peer-token-file, --peer-ca, --peer-timeout), parsed and checked.
import Foundation

struct PeerConfiguration: Sendable, Equatable {
    struct Seed: Sendable, Equatable {
        var name: String
        var url: String
    }

    var seeds: [Seed] = []
    /// The shared secret hosts present to each other; nil: forwarded calls carry no credential.
    var clusterToken: String?
    /// PEM file of the CA that signs the peers' certificates; nil: the system trust store.
    var caFile: String?
    /// Per-host budget of a fan-out listing and of a health check.
    var timeoutSeconds: Double = 2
    /// Budget of a forwarded call until the peer's answer starts (an attach waits for the peer's kernel).
    var forwardTimeoutSeconds: Double = 10
    var healthIntervalSeconds: Double = 5
    /// At most this many peers are asked at once by one fan-out.
    var fanOutParallelism = 16

    struct Invalid: Error, CustomStringConvertible, Equatable {
        var description: String
    }

    /// Reads the raw option values as the command line gives them; the error says which option and why.
    static func parse(
        peers: [String], tokenFile: String?, caFile: String?, timeoutSeconds: Double?, selfName: String
    ) throws(Invalid) -> PeerConfiguration {
        var c = PeerConfiguration()
        for text in peers {
            guard let eq = text.firstIndex(of: "=") else {
                throw Invalid(description: "--peer '\(text)': expected NAME=URL")
            }
            let name = String(text[..<eq])
            let url: String
            do {
                try PeerName.validate(name)
                url = try PeerName.normalizedURL(String(text[text.index(after: eq)...]))
            } catch { throw Invalid(description: "--peer '\(text)': \(error.detail)") }
            if name == selfName { throw Invalid(description: "--peer '\(text)': that is this host's own name") }
            if c.seeds.contains(where: { $0.name == name }) {
                throw Invalid(description: "--peer '\(name)' is given twice")
            }
            c.seeds.append(Seed(name: name, url: url))
        }
        if let tokenFile { c.clusterToken = try readToken(tokenFile) }
        if let caFile {
            guard let data = FileManager.default.contents(atPath: caFile) else {
                throw Invalid(description: "--peer-ca: cannot read '\(caFile)'")
            }
            guard String(decoding: data, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
                throw Invalid(description: "--peer-ca: '\(caFile)' holds no PEM certificate")
            }
            c.caFile = caFile
        }
        if let t = timeoutSeconds {
            guard t.isFinite, t > 0, t <= 300 else {
                throw Invalid(description: "--peer-timeout: \(t) is not a number of seconds in (0, 300]")
            }
            c.timeoutSeconds = t
            c.forwardTimeoutSeconds = max(c.forwardTimeoutSeconds, t)
        }
        return c
    }

    /// The first line that is neither blank nor a '#' comment; at least 16 characters so it cannot be guessed.
    static func readToken(_ path: String) throws(Invalid) -> String {
        var info = stat()
        // A secret every local user can read is no secret (the same rule as --token-file).
        if stat(path, &info) == 0 && info.st_mode & 0o007 != 0 {
            throw Invalid(
                description: "--peer-token-file: '\(path)' is accessible by other users; run: chmod o-rwx '\(path)'")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "--peer-token-file: cannot read '\(path)'")
        }
        let line = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("#") }
        guard let token = line, token.count >= 16, !token.contains(where: { $0 == " " || $0 == "\t" }) else {
            throw Invalid(
                description: "--peer-token-file: '\(path)' must hold one token of at least 16 characters without spaces"
            )
        }
        return token
    }
}
