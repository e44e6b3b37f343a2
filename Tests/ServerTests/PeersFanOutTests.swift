// PeersFanOutTests: cluster-wide listings: every member's items with its host, per-host errors, partial, filters.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersFanOutTests {
    static let token = "cluster-secret-0123456789"

    static func attachment(_ id: String, host: String, device: String, filter: String) -> JSONValue {
        .object([
            "id": .string(id), "host": .string(host), "filter": .string(filter),
            "device": .object(["path": .string("/dev/\(device)"), "name": .string(device), "dev": .string("7:0")]),
        ])
    }

    static func listing(_ items: [JSONValue]) -> Handler {
        { _ in try Response.json(JSONValue.object(["items": .array(items)])) }
    }

    /// "a" (self) with peers b (serving), c (serving), dead (refusing), slow (silent).
    func cluster(
        _ transport: InProcessPeerTransport, peers: [String] = ["b", "c", "dead", "slow"],
        answerBudget: Int = PeerFanOut.defaultAnswerBudget, bigAnswerFrom big: String? = nil
    ) throws -> Handler {
        let d = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: InMemoryPeerStorage(),
            seeds: peers.map { .init(name: $0, url: "http://\($0):7450") })
        for name in ["b", "c"] {
            transport.set(
                "http://\(name):7450",
                .serve(
                    peerApplication(name: name, clusterToken: Self.token) { r in
                        let many = name == big ? 200 : 1
                        r.get(
                            "/v1/hosts/{host}/attachments",
                            Self.listing(
                                (1...many).map {
                                    Self.attachment("\(name)\($0)", host: name, device: "loop1", filter: "stat")
                                }))
                        r.get(
                            "/v1/hosts/{host}/devices",
                            Self.listing([
                                .object([
                                    "name": .string("loop1"), "path": .string("/dev/loop1"), "dev": .string("7:1"),
                                ])
                            ]))
                    }))
        }
        transport.set("http://dead:7450", .refuse)
        transport.set("http://slow:7450", .silent)
        var local = Router()
        local.get(
            "/v1/hosts/{host}/attachments",
            Self.listing([
                Self.attachment("a1", host: "a", device: "loop0", filter: "stat"),
                Self.attachment("a2", host: "a", device: "loop1", filter: "guard"),
            ]))
        local.get(
            "/v1/hosts/{host}/devices",
            Self.listing([.object(["name": .string("loop0"), "path": .string("/dev/loop0"), "dev": .string("7:0")])]))
        var router = Router()
        var fanOut = PeerFanOut(
            directory: d, transport: transport, clusterToken: Self.token, timeoutSeconds: 1, parallelism: 2,
            localRoutes: local)
        fanOut.answerBudget = answerBudget
        let listing = fanOut
        router.get("/v1/attachments") { r in try await listing.list(.attachments, r) }
        router.get("/v1/devices") { r in try await listing.list(.devices, r) }
        return HTTPApplication(router: router, middlewares: [ErrorMapping()]).handler
    }

    func ids(_ body: [String: JSONValue]) -> [String] {
        guard case .array(let items)? = body["items"] else { return [] }
        return items.compactMap { item in
            guard case .object(let o) = item else { return nil }
            if case .string(let id)? = o["id"] { return id }
            if case .string(let name)? = o["name"], case .string(let host)? = o["host"] { return "\(host):\(name)" }
            return nil
        }
    }

    func errorHosts(_ body: [String: JSONValue]) -> [String: String] {
        guard case .array(let errors)? = body["errors"] else { return [:] }
        var out: [String: String] = [:]
        for e in errors {
            if case .object(let o) = e, case .string(let h)? = o["host"], case .string(let t)? = o["type"] {
                out[h] = t
            }
        }
        return out
    }

    @Test func deadAndSilentHostsMakeAPartialAnswerWithTheRest() async throws {
        let transport = InProcessPeerTransport()
        let app = try cluster(transport)
        var request = Request(method: "GET", path: "/v1/attachments")
        request.role = .reader
        let r = try await app(request)
        #expect(r.status == 200)
        let body = try jsonObject(r)
        #expect(ids(body) == ["a1", "a2", "b1", "c1"])
        #expect(body["partial"] == .bool(true))
        #expect(
            errorHosts(body) == [
                "dead": "urn:dmflt:problem:peer-unreachable", "slow": "urn:dmflt:problem:peer-timeout",
            ])
        // Peers are asked for their local list, as the caller's role, signed for each of them by name.
        let calls = transport.calls.withLock { $0 }
        #expect(
            Set(calls.map(\.url))
                == Set(["b", "c", "dead", "slow"].map { "http://\($0):7450/v1/hosts/local/attachments" }))
        #expect(
            calls.allSatisfy {
                $0.headers["X-Dmflt-Role"] == "reader"
                    && $0.headers["Authorization"]?.hasPrefix("Dmflt-HMAC-SHA256 ") == true
                    && $0.url.hasPrefix("http://\($0.headers["X-Dmflt-To"] ?? "?"):7450/")
                    && !$0.headers.contains { $0.value.contains(Self.token) }
            })
    }

    @Test func allUpIsNotPartial() async throws {
        let app = try cluster(InProcessPeerTransport(), peers: ["b", "c"])
        let body = try jsonObject(try await app(Request(method: "GET", path: "/v1/devices")))
        #expect(ids(body) == ["a:loop0", "b:loop1", "c:loop1"])
        #expect(body["partial"] == .bool(false))
        #expect(body["errors"] == .array([]))
    }

    @Test func queryFiltersSelectHostsDevicesAndFilters() async throws {
        let app = try cluster(InProcessPeerTransport())
        func list(_ q: [(String, String)]) async throws -> [String: JSONValue] {
            try jsonObject(try await app(Request(method: "GET", path: "/v1/attachments", query: q)))
        }
        #expect(ids(try await list([("host", "b")])) == ["b1"])
        #expect(try await list([("host", "b")])["partial"] == .bool(false))
        #expect(ids(try await list([("host", "local")])) == ["a1", "a2"])
        #expect(ids(try await list([("host", "a"), ("device", "/dev/loop1")])) == ["a2"])
        #expect(ids(try await list([("filter", "guard")])) == ["a2"])
        #expect(ids(try await list([("device", "loop1"), ("filter", "stat")])) == ["b1", "c1"])
        #expect(ids(try await list([("host", "slow")])).isEmpty)
        #expect(errorHosts(try await list([("host", "slow")])) == ["slow": "urn:dmflt:problem:peer-timeout"])
    }

    @Test func badQueriesAreRefused() async throws {
        let app = try cluster(InProcessPeerTransport())
        let unknownHost = try await app(Request(method: "GET", path: "/v1/attachments", query: [("host", "zz")]))
        #expect(unknownHost.status == 404)
        let unknownParam = try await app(Request(method: "GET", path: "/v1/attachments", query: [("colour", "red")]))
        #expect(unknownParam.status == 400)
        let filterOnDevices = try await app(Request(method: "GET", path: "/v1/devices", query: [("filter", "stat")]))
        #expect(filterOnDevices.status == 400)
    }

    @Test func aPeersProblemIsReportedAsThatHostsError() async throws {
        let transport = InProcessPeerTransport()
        let app = try cluster(transport, peers: ["b"])
        transport.set("http://b:7450", .serve { _ in Problem.filterIoctlUnavailable("no ioctl on b").response() })
        let body = try jsonObject(try await app(Request(method: "GET", path: "/v1/attachments")))
        #expect(ids(body) == ["a1", "a2"])
        #expect(errorHosts(body) == ["b": "urn:dmflt:problem:filter-ioctl-unavailable"])
        #expect(body["partial"] == .bool(true))
    }

    @Test func aListingHoldsAtMostItsBudgetOfPeerAnswers() async throws {
        // 8 KiB over two peers: 4 KiB each. b's 200 attachments are far more; c's one is not.
        let app = try cluster(
            InProcessPeerTransport(), peers: ["b", "c"], answerBudget: 8 << 10, bigAnswerFrom: "b")
        let body = try jsonObject(try await app(Request(method: "GET", path: "/v1/attachments")))
        #expect(errorHosts(body) == ["b": "urn:dmflt:problem:peer-answer-too-large"])
        #expect(ids(body) == ["a1", "a2", "c1"])
        #expect(body["partial"] == .bool(true))
        // With the default budget the same answer fits.
        let roomy = try cluster(InProcessPeerTransport(), peers: ["b", "c"], bigAnswerFrom: "b")
        let all = try jsonObject(try await roomy(Request(method: "GET", path: "/v1/attachments")))
        #expect(errorHosts(all).isEmpty && ids(all).count == 203)
    }
}
