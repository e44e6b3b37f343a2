// PeersTrustTests: the cluster token and the caller's role between hosts; a reader never mutates through a peer.
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersTrustTests {
    static let token = "cluster-secret-0123456789"
    let auth = PeerAuthenticator(clusterToken: token)

    func request(_ method: String, bearer: String?, role: String?) -> Request {
        var h = HTTPHeaders()
        if let bearer { h.set("Authorization", "Bearer \(bearer)") }
        if let role { h.set("X-Dmflt-Role", role) }
        return Request(method: method, path: "/v1/hosts/local/attachments", headers: h)
    }

    @Test func roleHeaderCountsOnlyWithTheClusterToken() {
        #expect(auth.authenticate(request("GET", bearer: Self.token, role: "operator")) == .peer(.operator))
        #expect(auth.authenticate(request("GET", bearer: Self.token, role: nil)) == .peer(.reader))
        #expect(auth.authenticate(request("GET", bearer: "user-token", role: "operator")) == .notPeer)
        #expect(auth.authenticate(request("GET", bearer: nil, role: "operator")) == .notPeer)
        #expect(auth.authenticate(request("GET", bearer: Self.token + "x", role: "operator")) == .notPeer)
        if case .rejected(let p) = auth.authenticate(request("GET", bearer: Self.token, role: "root")) {
            #expect(p.status == 400)
        } else {
            Issue.record("an unknown role must be refused")
        }
        // Without a cluster token configured nobody is a peer.
        #expect(
            PeerAuthenticator(clusterToken: nil).authenticate(request("GET", bearer: "", role: "operator")) == .notPeer)
    }

    @Test func trustSetsTheRoleAndStopsAForwardedReadersMutation() async throws {
        let seen = RoleBox()
        let inner: Handler = { r in
            seen.set(r.role)
            return Response(status: 204)
        }
        let trust = PeerTrust(authenticator: auth)
        #expect(
            try await trust.handle(request("POST", bearer: Self.token, role: "operator"), next: inner).status == 204)
        #expect(seen.get() == .operator)
        do {
            _ = try await trust.handle(request("POST", bearer: Self.token, role: "reader"), next: inner)
            Issue.record("a reader's POST must be refused")
        } catch let p as Problem { #expect(p.status == 403) }
        do {
            _ = try await trust.handle(request("DELETE", bearer: Self.token, role: "reader"), next: inner)
            Issue.record("a reader's DELETE must be refused")
        } catch let p as Problem { #expect(p.status == 403) }
        // A role a request claims for itself is dropped before auth sees it.
        var spoofed = request("POST", bearer: "user-token", role: "operator")
        spoofed.role = .operator
        _ = try await trust.handle(spoofed, next: inner)
        #expect(seen.get() == nil)
    }

    @Test func readerCannotMutateThroughForwardingEvenIfTheEntryHostLetsItPass() async throws {
        // Entry host "a" with no role gate of its own; the peer "b" applies the forwarded role.
        let transport = InProcessPeerTransport()
        let mutated = RoleBox()
        transport.set(
            "http://b:7450",
            .serve(
                peerApplication(name: "b", clusterToken: Self.token) { r in
                    r.post("/v1/hosts/{host}/attachments") { req in
                        mutated.set(req.role)
                        return Response(status: 201)
                    }
                }))
        let d = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: InMemoryPeerStorage(), seeds: [.init(name: "b", url: "http://b:7450")]
        )
        let forwarder = PeerForwarder(directory: d, transport: transport, clusterToken: Self.token, timeoutSeconds: 1)
        let app = HTTPApplication(router: Router(), middlewares: [ErrorMapping(), forwarder]).handler
        var asReader = Request(method: "POST", path: "/v1/hosts/b/attachments", body: Array("{}".utf8))
        asReader.role = .reader
        #expect(try await app(asReader).status == 403)
        #expect(mutated.get() == nil)
        var asOperator = asReader
        asOperator.role = .operator
        #expect(try await app(asOperator).status == 201)
        #expect(mutated.get() == .operator)
        // A wrong cluster token is not a peer: the peer's own auth refuses it.
        let wrong = PeerForwarder(
            directory: d, transport: transport, clusterToken: "wrong-secret-0123456789", timeoutSeconds: 1)
        let wrongApp = HTTPApplication(router: Router(), middlewares: [ErrorMapping(), wrong]).handler
        #expect(try await wrongApp(asOperator).status == 403)
    }
}

final class RoleBox: @unchecked Sendable {
    private let lock = NSLock()
    private var role: Role?
    func set(_ r: Role?) { lock.withLock { role = r } }
    func get() -> Role? { lock.withLock { role } }
}

/// PeerTrust in front of the real BearerAuthentication, as the daemon chains them.
@Suite struct PeersTrustWithBearerAuthTests {
    static let cluster = "cluster-secret-0123456789"
    static let readerToken = "reader-token-0123456789"

    func app() throws -> Handler {
        var router = Router()
        router.get("/v1/hosts/{host}/attachments") { r in
            Response(status: 200, body: .bytes(Array((r.role?.rawValue ?? "-").utf8)))
        }
        router.post("/v1/hosts/{host}/attachments") { _ in Response(status: 201) }
        let tokens = try TokenStore(parsing: "reader \(Self.readerToken)\n")
        return HTTPApplication(
            router: router,
            middlewares: [
                ErrorMapping(), PeerTrust(authenticator: PeerAuthenticator(clusterToken: Self.cluster)),
                BearerAuthentication(tokens: tokens),
            ]
        ).handler
    }

    func request(_ method: String, token: String, role: String?) -> Request {
        var h = HTTPHeaders([("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")])
        if let role { h.set("X-Dmflt-Role", role) }
        return Request(method: method, path: "/v1/hosts/local/attachments", headers: h, body: Array("{}".utf8))
    }

    @Test func clusterCallsGetTheForwardedRoleAndNothingMore() async throws {
        let app = try app()
        let read = try await app(request("GET", token: Self.cluster, role: "reader"))
        #expect(read.status == 200 && read.bodyBytes == Array("reader".utf8))
        #expect(try await app(request("POST", token: Self.cluster, role: "reader")).status == 403)
        #expect(try await app(request("POST", token: Self.cluster, role: "operator")).status == 201)
        // A user's reader token claiming operator stays a reader.
        #expect(try await app(request("POST", token: Self.readerToken, role: "operator")).status == 403)
        // An unknown token is refused whatever role it claims.
        #expect(try await app(request("GET", token: "guess-0123456789abcdef", role: "operator")).status == 401)
    }
}
