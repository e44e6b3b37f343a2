// PeerForwarder: middleware that sends /v1/hosts/{peer}/... to that peer's /v1/hosts/local/... and returns its answer.
import Foundation

/// Sits after authentication (it needs `request.role`, and the entering host refuses a reader's
/// mutation before anything crosses the network). Requests for this host pass on to the router.
struct PeerForwarder: Middleware {
    let directory: PeerDirectory
    let transport: any PeerTransport
    let clusterToken: String?
    let timeoutSeconds: Double

    func handle(_ request: Request, next: Handler) async throws -> Response {
        guard let (host, rest) = Self.target(of: request.path), !directory.isSelf(host) else {
            return try await next(request)
        }
        if request.headers[PeerHeaders.hop] != nil { throw Problem.peerLoop(host) }
        guard let peer = directory.peer(named: host) else {
            throw Problem.unknownHost(host, selfName: directory.selfName)
        }
        let segments = ["v1", "hosts", "local"] + rest
        let call = PeerCall(
            method: request.method,
            url: peer.url + Self.encodedPath(segments) + Self.encodedQuery(request.query),
            headers: PeerHeaders.outgoing(
                for: request, path: "/" + segments.joined(separator: "/"), query: request.query,
                clusterToken: clusterToken, to: peer.name, via: directory.selfName),
            body: request.body)
        let answer: PeerAnswer
        do {
            answer = try await transport.send(call, timeoutSeconds: timeoutSeconds, streamUnsized: true)
        } catch {
            throw error.problem(host: host, timeoutSeconds: timeoutSeconds)
        }
        return Response(status: answer.status, headers: PeerHeaders.returned(answer.headers), body: answer.body)
    }

    /// This host's requests go on at once; a peer's need the network, so they run as a task.
    func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? {
        guard let host = Self.targetHost(of: request.path), !directory.isSelf(String(host)) else {
            return try next(request)
        }
        return nil
    }

    /// The host `target(of:)` names, without making the rest of the path. A path that names a host
    /// holds "/hosts/" (between the "hosts" segment and the host's), which most paths (GET /v1/host,
    /// /metrics) do not: they are told apart with one scan of their bytes.
    static func targetHost(of path: String) -> Substring? {
        guard path.utf8.count >= 10, Self.contains(path.utf8, "/hosts/".utf8) else { return nil }
        let parts = path.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: true)
        guard parts.count == 4, parts[0] == "v1", parts[1] == "hosts", parts[3].contains(where: { $0 != "/" })
        else { return nil }
        return parts[2]
    }

    private static func contains(_ text: String.UTF8View, _ pattern: String.UTF8View) -> Bool {
        let first = pattern.first!
        var i = text.startIndex
        while let found = text[i...].firstIndex(of: first) {
            if text[found...].starts(with: pattern) { return true }
            i = text.index(after: found)
        }
        return false
    }

    /// ("b", ["devices"]) for "/v1/hosts/b/devices"; nil for paths that name no host or only the host itself.
    static func target(of path: String) -> (String, [String])? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 4, parts[0] == "v1", parts[1] == "hosts" else { return nil }
        return (String(parts[2]), parts[3...].map(String.init))
    }

    /// `request.path` is decoded; each segment is encoded again so a '/' or '?' inside one stays inside it.
    static func encodedPath(_ segments: [String]) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/;?#%")
        return segments.map { "/" + ($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0) }.joined()
    }

    static func encodedQuery(_ query: [(name: String, value: String)]) -> String {
        guard !query.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#%;")
        func e(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s }
        return "?" + query.map { "\(e($0.name))=\(e($0.value))" }.joined(separator: "&")
    }
}
