// PeersForwarderTests: /v1/hosts/{peer}/... goes to the peer's /v1/hosts/local/... intact, answers come back unchanged.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersForwarderTests {
    static let token = "cluster-secret-0123456789"

    /// Host "a" with peers "b" (serving), "dead" (refusing) and "slow" (never answering).
    func cluster(_ transport: InProcessPeerTransport) throws -> (PeerDirectory, Handler) {
        let d = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: InMemoryPeerStorage(),
            seeds: [
                .init(name: "b", url: "http://b:7450"), .init(name: "dead", url: "http://dead:7450"),
                .init(name: "slow", url: "http://slow:7450"),
            ])
        transport.set("http://dead:7450", .refuse)
        transport.set("http://slow:7450", .silent)
        let forwarder = PeerForwarder(directory: d, transport: transport, clusterToken: Self.token, timeoutSeconds: 1)
        var router = Router()
        router.get("/v1/hosts/{host}/devices") { r in
            try Response.json(["answeredBy": "a", "host": r.pathParameters["host"] ?? ""])
        }
        let app = HTTPApplication(router: router, middlewares: [ErrorMapping(), forwarder])
        return (d, app.handler)
    }

    @Test func requestReachesThePeerIntactAndTheAnswerComesBackUnchanged() async throws {
        let transport = InProcessPeerTransport()
        let (_, a) = try cluster(transport)
        transport.set(
            "http://b:7450",
            .serve { r in
                var h = HTTPHeaders()
                h.set("Content-Type", "application/json")
                h.set("Location", "/v1/hosts/b/attachments/x1")
                h.set("Connection", "close")
                let echo =
                    "\(r.method) \(r.path) \(r.query.map { "\($0.name)=\($0.value)" }.joined(separator: "&")) \(String(decoding: r.body, as: UTF8.self))"
                return Response(status: 201, headers: h, body: .bytes(Array(echo.utf8)))
            })
        var request = Request(
            method: "PUT", path: "/v1/hosts/b/attachments/x1", query: [("q", "a b&c"), ("q", "2")],
            headers: HTTPHeaders([
                ("Content-Type", "application/json"), ("Authorization", "Bearer user-token"),
                ("X-Dmflt-Role", "operator"),
            ]), body: Array(#"{"device":"loop0"}"#.utf8))
        request.role = .reader
        let response = try await a(request)
        #expect(response.status == 201)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(response.headers["Location"] == "/v1/hosts/b/attachments/x1")
        #expect(response.headers["Connection"] == nil)
        #expect(
            String(decoding: await collect(response.body), as: UTF8.self)
                == #"PUT /v1/hosts/local/attachments/x1 q=a b&c&q=2 {"device":"loop0"}"#)
        let sent = try #require(transport.calls.withLock { $0.last })
        // The caller's token never leaves the host it entered, nor does the cluster secret: a signature made
        // with it for b, and the caller's real role, go instead.
        #expect(sent.headers["Authorization"]?.hasPrefix("Dmflt-HMAC-SHA256 ") == true)
        #expect(!sent.headers.contains { $0.value.contains(Self.token) || $0.value.contains("user-token") })
        #expect(sent.headers["X-Dmflt-To"] == "b")
        #expect(sent.headers["X-Dmflt-Role"] == "reader")
        #expect(sent.headers["X-Dmflt-Hop"] == "1")
        #expect(sent.headers["X-Dmflt-Via"] == "a")
        #expect(sent.url.hasPrefix("http://b:7450/v1/hosts/local/attachments/x1?q=a%20b%26c&q=2"))
    }

    @Test func selfAndLocalAreServedHere() async throws {
        let transport = InProcessPeerTransport()
        let (_, a) = try cluster(transport)
        for host in ["a", "local"] {
            let r = try await a(Request(method: "GET", path: "/v1/hosts/\(host)/devices"))
            #expect(try jsonObject(r)["answeredBy"] == .string("a"))
        }
        #expect(transport.calls.withLock { $0.isEmpty })
    }

    @Test func unknownHostIs404NamingIt() async throws {
        let (_, a) = try cluster(InProcessPeerTransport())
        let r = try await a(Request(method: "GET", path: "/v1/hosts/nobody/devices"))
        #expect(r.status == 404)
        #expect(try jsonObject(r)["host"] == .string("nobody"))
    }

    @Test func unreachablePeerIs502AndSilentPeerIs504() async throws {
        let (_, a) = try cluster(InProcessPeerTransport())
        let dead = try await a(Request(method: "GET", path: "/v1/hosts/dead/devices"))
        #expect(dead.status == 502)
        #expect(dead.headers["Content-Type"] == "application/problem+json")
        #expect(try jsonObject(dead)["type"] == .string("urn:dmflt:problem:peer-unreachable"))
        #expect(try jsonObject(dead)["host"] == .string("dead"))
        let slow = try await a(Request(method: "GET", path: "/v1/hosts/slow/devices"))
        #expect(slow.status == 504)
        #expect(try jsonObject(slow)["type"] == .string("urn:dmflt:problem:peer-timeout"))
        #expect(try jsonObject(slow)["host"] == .string("slow"))
    }

    @Test func aRequestThatHoppedOnceIsNotSentOn() async throws {
        let transport = InProcessPeerTransport()
        let (_, a) = try cluster(transport)
        transport.set("http://b:7450", .serve { _ in Response(status: 200) })
        let r = try await a(
            Request(method: "GET", path: "/v1/hosts/b/devices", headers: HTTPHeaders([("X-Dmflt-Hop", "1")])))
        #expect(r.status == 508)
        #expect(try jsonObject(r)["type"] == .string("urn:dmflt:problem:peer-loop"))
        #expect(transport.calls.withLock { $0.isEmpty })
        // ... while a hopped request for this host itself is what every forwarded call is.
        let local = try await a(
            Request(method: "GET", path: "/v1/hosts/local/devices", headers: HTTPHeaders([("X-Dmflt-Hop", "1")])))
        #expect(local.status == 200)
    }

    @Test func pathsWithoutAHostedResourceAreNotForwarded() {
        #expect(PeerForwarder.target(of: "/v1/hosts") == nil)
        #expect(PeerForwarder.target(of: "/v1/hosts/b") == nil)
        #expect(PeerForwarder.target(of: "/v1/host") == nil)
        #expect(PeerForwarder.target(of: "/v1/hosts/b/attachments/x/stats")! == ("b", ["attachments", "x", "stats"]))
        #expect(PeerForwarder.encodedPath(["v1", "a/b?c"]) == "/v1/a%2Fb%3Fc")
    }

    /// The immediate chain finds the host the way forwarding does, for every spelling of a path.
    @Test func theImmediateChainNamesTheSameHostAsForwarding() {
        let paths = [
            "/v1/host", "/v1/hosts", "/v1/hosts/", "/v1/hosts/b", "/v1/hosts/b/", "/v1/hosts/b//",
            "/v1/hosts/b/devices",
            "//v1//hosts//b//devices", "/v1/hosts/b/attachments/x/stats", "/v2/hosts/b/devices", "/v1/hostsx/b/devices",
            "/metrics", "/", "", "/v1/hosts/local/attachments", "v1/hosts/b/x",
        ]
        for path in paths {
            #expect(PeerForwarder.targetHost(of: path).map(String.init) == PeerForwarder.target(of: path)?.0, "\(path)")
        }
    }
}
