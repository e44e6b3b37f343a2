// PeerHeaders: the headers hosts use between themselves, and which headers cross a hop in each direction.
import Foundation

enum PeerHeaders {
    /// Set on every call one host makes to another; a request carrying it is never sent on again.
    static let hop = "X-Dmflt-Hop"
    /// The original caller's role, honoured only together with the cluster token.
    static let role = "X-Dmflt-Role"
    /// The host the request entered through, for the peer's logs.
    static let via = "X-Dmflt-Via"

    /// Connection-level headers (RFC 9110 7.6.1), framing the HTTP layers redo, and our own trust headers,
    /// which the forwarder sets itself so a caller cannot smuggle them through.
    private static let notForwarded: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade", "host", "content-length", "expect", "authorization", "x-dmflt-hop", "x-dmflt-role", "x-dmflt-via",
    ]
    /// Framing and per-connection headers of the peer's answer; our own HTTP layer writes its own.
    private static let notReturned: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "date",
    ]

    /// The headers of a call to a peer on behalf of `request`.
    static func outgoing(for request: Request, clusterToken: String?, via: String) -> HTTPHeaders {
        var h = HTTPHeaders()
        for (name, value) in request.headers where !notForwarded.contains(name.lowercased()) { h.add(name, value) }
        return h.withPeerCredentials(clusterToken: clusterToken, role: request.role, via: via)
    }

    static func returned(_ headers: HTTPHeaders) -> HTTPHeaders {
        var h = HTTPHeaders()
        for (name, value) in headers where !notReturned.contains(name.lowercased()) { h.add(name, value) }
        return h
    }
}

extension HTTPHeaders {
    /// Adds the hop marker, the cluster credential and the caller's role (none when unauthenticated).
    func withPeerCredentials(clusterToken: String?, role: Role?, via: String) -> HTTPHeaders {
        var h = self
        h.set(PeerHeaders.hop, "1")
        h.set(PeerHeaders.via, via)
        if let clusterToken { h.set("Authorization", "Bearer \(clusterToken)") }
        if let role { h.set(PeerHeaders.role, role.rawValue) }
        return h
    }
}
