// PeerHeaders: the headers hosts use between themselves, and which headers cross a hop in each direction.
import Foundation

enum PeerHeaders {
    /// Set on every call one host makes to another; a request carrying it is never sent on again.
    static let hop = "X-Dmflt-Hop"
    /// The original caller's role, honoured only on a call with a valid peer signature.
    static let role = "X-Dmflt-Role"
    /// The host the request entered through, for the peer's logs.
    static let via = "X-Dmflt-Via"
    /// The name of the host a signed call is for; any other host refuses it.
    static let to = "X-Dmflt-To"
    /// Seconds since 1970 when the call was signed, and a random value used once (see PeerSignature).
    static let timestamp = "X-Dmflt-Timestamp"
    static let nonce = "X-Dmflt-Nonce"

    /// Connection-level headers (RFC 9110 7.6.1), framing the HTTP layers redo, and our own trust headers,
    /// which the forwarder sets itself so a caller cannot smuggle them through.
    private static let notForwarded: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "transfer-encoding",
        "upgrade", "host", "content-length", "expect", "authorization", "x-dmflt-hop", "x-dmflt-role", "x-dmflt-via",
        "x-dmflt-to", "x-dmflt-timestamp", "x-dmflt-nonce",
    ]
    /// Framing and per-connection headers of the peer's answer; our own HTTP layer writes its own.
    private static let notReturned: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "date",
    ]

    /// The headers of a call to the peer `to` on behalf of `request`, signed for the API path the peer
    /// will see (`path`, `query`) rather than the caller's.
    static func outgoing(
        for request: Request, path: String, query: [(name: String, value: String)], clusterToken: String?, to: String,
        via: String
    ) -> HTTPHeaders {
        var h = HTTPHeaders()
        for (name, value) in request.headers where !notForwarded.contains(name.lowercased()) { h.add(name, value) }
        return h.signedForPeer(
            secret: clusterToken, method: request.method, path: path, query: query, body: request.body,
            role: request.role, to: to, via: via)
    }

    static func returned(_ headers: HTTPHeaders) -> HTTPHeaders {
        var h = HTTPHeaders()
        for (name, value) in headers where !notReturned.contains(name.lowercased()) { h.add(name, value) }
        return h
    }
}
