// PeersTestSupport: in-process peers for the peers-layer tests (a transport that calls handlers, fixed host facts).
import Engine
import Foundation
import Synchronization

@testable import dmfltd

struct PeersTestProbe: HostProbe {
    var filterIoctl = true
    func probe() -> HostFacts {
        HostFacts(
            kernelRelease: "6.1.0-test", dmVersion: "4.47.0", filterIoctl: filterIoctl, filterTypes: [], reason: nil)
    }
}

/// Routes each call by base URL to an in-process handler, a refusal, or silence (the budget runs out).
final class InProcessPeerTransport: PeerTransport {
    enum Behaviour: Sendable {
        case serve(Handler)
        case refuse
        case silent
    }
    private let peers = Mutex<[String: Behaviour]>([:])
    /// Every call made, for assertions on what crossed the "network".
    let calls = Mutex<[PeerCall]>([])

    func set(_ baseURL: String, _ behaviour: Behaviour) { peers.withLock { $0[baseURL] = behaviour } }

    func send(_ call: PeerCall, timeoutSeconds: Double, streamUnsized: Bool) async throws(PeerCallFailure) -> PeerAnswer
    {
        calls.withLock { $0.append(call) }
        guard let url = URLComponents(string: call.url), let scheme = url.scheme, let host = url.host else {
            throw .unreachable("bad URL \(call.url)")
        }
        let base = "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        switch peers.withLock({ $0[base] }) {
        case nil, .refuse?: throw .unreachable("connection refused")
        case .silent?: throw .timedOut
        case .serve(let handler)?:
            var request = Request(
                method: call.method, path: url.path,
                query: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, headers: call.headers, body: call.body)
            request.remoteAddress = "peer"
            let response: Response
            do { response = try await handler(request) } catch { throw .unreachable("\(error)") }
            var headers = response.headers
            var body = response.body
            if case .shared(let s) = body { body = .bytes(Array(s.bytes)) }  // as the wire would deliver it
            if case .bytes(let b) = body {
                headers.set("Content-Length", String(b.count))
                if b.count > call.maxAnswerBytes { throw .tooLarge(limit: call.maxAnswerBytes) }
            }
            if case .stream = response.body, !streamUnsized {
                throw .unreachable("a stream where a sized answer was expected")
            }
            return PeerAnswer(status: response.status, headers: headers, body: body)
        }
    }
}

/// A peer host as an in-process application: PeerTrust then a role gate like the token auth, then its routes.
func peerApplication(
    name: String, clusterToken: String?, routes: (inout Router) -> Void
) -> Handler {
    var router = Router()
    routes(&router)
    struct RoleGate: Middleware {
        func handle(_ request: Request, next: Handler) async throws -> Response {
            if request.method != "GET" && request.role != .operator { throw Problem.forbidden("operators only") }
            return try await next(request)
        }
    }
    return HTTPApplication(
        router: router,
        middlewares: [
            ErrorMapping(), PeerTrust(authenticator: PeerAuthenticator(clusterToken: clusterToken, selfName: name)),
            RoleGate(),
        ]
    ).handler
}

func jsonObject(_ response: Response) throws -> [String: JSONValue] {
    guard case .object(let o) = try JSONCoding.decoder.decode(JSONValue.self, from: Data(response.bodyBytes ?? []))
    else {
        throw Problem.internalError("not an object")
    }
    return o
}

func collect(_ body: Response.Body) async -> [UInt8] {
    switch body {
    case .bytes(let b): return b
    case .shared(let s): return Array(s.bytes)
    case .stream(let s), .sizedStream(let s, _):
        var all: [UInt8] = []
        while let chunk = await s.next() { all += chunk }
        return all
    case .file(let file, let offset, let length):
        guard let fd = file.handOver() else { return [] }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Int(length), off_t(offset)) }
        return Array(bytes.prefix(max(0, n)))
    }
}
