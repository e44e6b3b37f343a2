// PeerSignature: the HMAC one host puts on each call to another, over what the call does, for whom and when.
import Foundation

/// The cluster secret itself never crosses the network: a call carries an HMAC-SHA256, keyed with the
/// secret, over the method, path, query, a SHA-256 of the body, the caller's role, the receiving and
/// the sending host's names, a timestamp and a random nonce. The receiver recomputes it, refuses a
/// timestamp outside its window and a nonce it has already seen (NonceLedger), and refuses a call
/// addressed to another host name, so a listener added as a peer gets only calls that name it and
/// can replay none of them to a real host.
struct PeerSignature: Sendable, Equatable {
    static let scheme = "Dmflt-HMAC-SHA256"
    /// Seconds a signed call's timestamp may differ from the receiver's clock, either way.
    static let windowSeconds: Int64 = 30

    var method: String
    /// The API path as the receiver decodes it ("/v1/hosts/local/devices"), not the peer's base URL.
    var path: String
    var query: [(name: String, value: String)]
    var bodyDigest: [UInt8]
    /// nil: the caller entered unauthenticated, and the receiver applies the least privilege.
    var role: Role?
    var to: String
    var via: String
    var timestamp: Int64
    var nonce: String

    static func == (a: PeerSignature, b: PeerSignature) -> Bool { a.canonical == b.canonical }

    /// One field per line, each percent-encoded, so no field's text can pose as another field.
    var canonical: [UInt8] {
        let queryText = query.map { Self.encode($0.name) + "=" + Self.encode($0.value) }.joined(separator: "&")
        let lines = [
            "dmflt-peer-v1", Self.encode(method), Self.encode(path, keepingSlash: true), queryText,
            PeerDigest.hex(bodyDigest), role?.rawValue ?? "-", Self.encode(to), Self.encode(via), String(timestamp),
            Self.encode(nonce),
        ]
        return Array(lines.joined(separator: "\n").utf8)
    }

    func mac(secret: [UInt8]) -> String { PeerDigest.hex(PeerDigest.hmacSHA256(key: secret, canonical)) }

    /// RFC 3986 unreserved characters stay; every other byte becomes %XX.
    static func encode(_ text: String, keepingSlash: Bool = false) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let digits = Array("0123456789ABCDEF".utf8)
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: "/") where keepingSlash: out.append(b)
            default: out += [UInt8(ascii: "%"), digits[Int(b >> 4)], digits[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func newNonce() -> String {
        var g = SystemRandomNumberGenerator()
        return PeerDigest.hex((0..<16).map { _ in UInt8.random(in: .min ... .max, using: &g) })
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}

extension HTTPHeaders {
    /// The hop marker, the sender's name, the caller's role (none when unauthenticated) and, with a
    /// cluster secret, the signature of this exact call to the host named `to`.
    func signedForPeer(
        secret: String?, method: String, path: String, query: [(name: String, value: String)] = [], body: [UInt8],
        role: Role?, to: String, via: String, now: Int64 = PeerSignature.now()
    ) -> HTTPHeaders {
        var h = self
        h.set(PeerHeaders.hop, "1")
        h.set(PeerHeaders.via, via)
        if let role { h.set(PeerHeaders.role, role.rawValue) }
        guard let secret else { return h }
        let s = PeerSignature(
            method: method, path: path, query: query, bodyDigest: PeerDigest.sha256(body), role: role, to: to,
            via: via, timestamp: now, nonce: PeerSignature.newNonce())
        h.set(PeerHeaders.to, to)
        h.set(PeerHeaders.timestamp, String(s.timestamp))
        h.set(PeerHeaders.nonce, s.nonce)
        h.set("Authorization", "\(PeerSignature.scheme) \(s.mac(secret: Array(secret.utf8)))")
        return h
    }
}
