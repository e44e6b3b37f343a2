// PeersTrustTests: signed calls between hosts (no secret on the wire, no replay, no reuse on another host) and roles.
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersTrustTests {
    static let token = "cluster-secret-0123456789"
    static let t0: Int64 = 1_800_000_000

    func authenticator(now: Int64 = t0, ledger: NonceLedger = NonceLedger()) -> PeerAuthenticator {
        PeerAuthenticator(clusterToken: Self.token, selfName: "b", ledger: ledger, now: { now })
    }

    /// A call as host "a" signs it for `to`, with the user's extra headers on top.
    func signed(
        _ method: String, path: String = "/v1/hosts/local/attachments", query: [(name: String, value: String)] = [],
        body: String = "", role: Role?, to: String = "b", secret: String = token, at time: Int64 = t0
    ) -> Request {
        let h = HTTPHeaders().signedForPeer(
            secret: secret, method: method, path: path, query: query, body: Array(body.utf8), role: role, to: to,
            via: "a", now: time)
        return Request(method: method, path: path, query: query, headers: h, body: Array(body.utf8))
    }

    func rejection(_ outcome: PeerAuthenticator.Outcome) -> Problem? {
        if case .rejected(let p) = outcome { return p }
        return nil
    }

    @Test func aSignedCallCarriesItsRoleAndTheSecretIsNotOnTheWire() {
        let auth = authenticator()
        let call = signed("POST", body: "{}", role: .operator)
        #expect(auth.authenticate(call) == .peer(.operator))
        #expect(auth.authenticate(signed("GET", role: nil)) == .peer(.reader))
        #expect(!call.headers.contains { $0.value.contains(Self.token) })
        #expect(call.headers["Authorization"]?.hasPrefix("Dmflt-HMAC-SHA256 ") == true)
    }

    @Test func theSecretAsABearerTokenOrAClaimedRoleIsNoPeerCall() {
        var h = HTTPHeaders([("Authorization", "Bearer \(Self.token)"), ("X-Dmflt-Role", "operator")])
        #expect(
            authenticator().authenticate(Request(method: "POST", path: "/v1/hosts/local/attachments", headers: h))
                == .notPeer)
        h = HTTPHeaders([("X-Dmflt-Role", "operator")])
        #expect(authenticator().authenticate(Request(method: "POST", path: "/", headers: h)) == .notPeer)
    }

    @Test func aReplayIsRefusedInsideTheWindowAndAStaleCallAfterIt() {
        let ledger = NonceLedger()
        let call = signed("DELETE", path: "/v1/hosts/local/attachments/x", role: .operator)
        #expect(authenticator(ledger: ledger).authenticate(call) == .peer(.operator))
        let again = rejection(authenticator(now: Self.t0 + 5, ledger: ledger).authenticate(call))
        #expect(again?.status == 401 && again?.detail.contains("replay") == true)
        // Once the window is over the nonce is forgotten, and the timestamp refuses the call instead.
        let late = rejection(authenticator(now: Self.t0 + 31, ledger: ledger).authenticate(call))
        #expect(late?.status == 401 && late?.detail.contains("within 30 s") == true)
        let next = signed("GET", role: .reader, at: Self.t0 + 31)
        #expect(authenticator(now: Self.t0 + 31, ledger: ledger).authenticate(next) == .peer(.reader))
        #expect(ledger.count == 1, "the expired nonce was dropped when the next one came")
        let early = rejection(authenticator().authenticate(signed("GET", role: .reader, at: Self.t0 + 31)))
        #expect(early?.status == 401)
        #expect(authenticator().authenticate(signed("GET", role: .reader, at: Self.t0 + 30)) == .peer(.reader))
    }

    @Test func aCallSignedForAnotherHostIsRefused() {
        // What a listener added as peer "evil" receives cannot be used on host b.
        let p = rejection(authenticator().authenticate(signed("POST", body: "{}", role: .operator, to: "evil")))
        #expect(p?.status == 401 && p?.detail.contains("'evil'") == true)
    }

    @Test func everySignedPartOfTheCallIsChecked() {
        let auth = authenticator()
        let base = signed("POST", query: [("a", "1")], body: #"{"device":"loop0"}"#, role: .reader)
        var tampered: [Request] = []
        var r = base
        r.method = "DELETE"
        tampered.append(r)
        r = base
        r.path = "/v1/hosts/local/attachments/other"
        tampered.append(r)
        r = base
        r.query = [("a", "2")]
        tampered.append(r)
        r = base
        r.body = Array(#"{"device":"loop1"}"#.utf8)
        tampered.append(r)
        r = base
        r.headers.set("X-Dmflt-Role", "operator")
        tampered.append(r)
        r = base
        r.headers.set("X-Dmflt-Timestamp", String(Self.t0 + 1))
        tampered.append(r)
        r = base
        r.headers.set("X-Dmflt-Via", "c")
        tampered.append(r)
        for t in tampered { #expect(rejection(auth.authenticate(t))?.status == 401) }
        #expect(
            rejection(auth.authenticate(signed("GET", role: .reader, secret: "another-secret-0123456")))?.status == 401)
        var noNonce = base
        noNonce.headers.set("X-Dmflt-Nonce", "")
        #expect(rejection(auth.authenticate(noNonce))?.status == 401)
    }

    @Test func anUnknownRoleIsABadRequestAndAHostWithoutSecretRefusesSignedCalls() {
        var h = HTTPHeaders().signedForPeer(
            secret: Self.token, method: "GET", path: "/", body: [], role: nil, to: "b", via: "a", now: Self.t0)
        h.set("X-Dmflt-Role", "root")
        #expect(rejection(authenticator().authenticate(Request(method: "GET", path: "/", headers: h)))?.status == 400)
        let open = PeerAuthenticator(clusterToken: nil, selfName: "b")
        #expect(rejection(open.authenticate(signed("GET", role: .reader, at: PeerSignature.now())))?.status == 401)
    }

    @Test func aFullLedgerRefusesRatherThanForgetsEarly() {
        let ledger = NonceLedger(capacity: 2)
        let auth = authenticator(ledger: ledger)
        #expect(auth.authenticate(signed("GET", role: .reader)) == .peer(.reader))
        #expect(auth.authenticate(signed("GET", role: .reader)) == .peer(.reader))
        #expect(rejection(auth.authenticate(signed("GET", role: .reader)))?.status == 503)
        // Expired nonces make room again.
        #expect(
            authenticator(now: Self.t0 + 31, ledger: ledger).authenticate(
                signed("GET", role: .reader, at: Self.t0 + 31)) == .peer(.reader))
    }

    @Test func trustSetsTheRoleAndStopsAForwardedReadersMutation() async throws {
        let seen = RoleBox()
        let inner: Handler = { r in
            seen.set(r.role)
            return Response(status: 204)
        }
        let trust = PeerTrust(authenticator: authenticator())
        #expect(try await trust.handle(signed("POST", role: .operator), next: inner).status == 204)
        #expect(seen.get() == .operator)
        do {
            _ = try await trust.handle(signed("POST", role: .reader), next: inner)
            Issue.record("a reader's POST must be refused")
        } catch let p as Problem { #expect(p.status == 403) }
        do {
            _ = try await trust.handle(signed("DELETE", role: .reader), next: inner)
            Issue.record("a reader's DELETE must be refused")
        } catch let p as Problem { #expect(p.status == 403) }
        // A role a request claims for itself is dropped before auth sees it.
        var spoofed = Request(
            method: "POST", path: "/",
            headers: HTTPHeaders([("Authorization", "Bearer user-token"), ("X-Dmflt-Role", "operator")]))
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
        // A call signed with another secret is refused by the peer.
        let wrong = PeerForwarder(
            directory: d, transport: transport, clusterToken: "wrong-secret-0123456789", timeoutSeconds: 1)
        let wrongApp = HTTPApplication(router: Router(), middlewares: [ErrorMapping(), wrong]).handler
        #expect(try await wrongApp(asOperator).status == 401)
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
                ErrorMapping(), PeerTrust(authenticator: PeerAuthenticator(clusterToken: Self.cluster, selfName: "b")),
                BearerAuthentication(tokens: tokens),
            ]
        ).handler
    }

    func request(_ method: String, token: String, role: String?) -> Request {
        var h = HTTPHeaders([("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")])
        if let role { h.set("X-Dmflt-Role", role) }
        return Request(method: method, path: "/v1/hosts/local/attachments", headers: h, body: Array("{}".utf8))
    }

    func signed(_ method: String, role: Role) -> Request {
        let h = HTTPHeaders([("Content-Type", "application/json")]).signedForPeer(
            secret: Self.cluster, method: method, path: "/v1/hosts/local/attachments", body: Array("{}".utf8),
            role: role, to: "b", via: "a")
        return Request(method: method, path: "/v1/hosts/local/attachments", headers: h, body: Array("{}".utf8))
    }

    @Test func clusterCallsGetTheForwardedRoleAndNothingMore() async throws {
        let app = try app()
        let read = try await app(signed("GET", role: .reader))
        #expect(read.status == 200 && read.bodyBytes == Array("reader".utf8))
        #expect(try await app(signed("POST", role: .reader)).status == 403)
        #expect(try await app(signed("POST", role: .operator)).status == 201)
        // The cluster secret sent as a bearer token is no credential at all.
        #expect(try await app(request("POST", token: Self.cluster, role: "operator")).status == 401)
        // A user's reader token claiming operator stays a reader.
        #expect(try await app(request("POST", token: Self.readerToken, role: "operator")).status == 403)
        // An unknown token is refused whatever role it claims.
        #expect(try await app(request("GET", token: "guess-0123456789abcdef", role: "operator")).status == 401)
    }
}
