// StatsRoutesTests: the stats routes in-process — snapshot JSON shape, query checking, 404/409, stream responses.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct StatsRoutesTests {
    private func app(_ service: StatsService) -> HTTPApplication {
        var router = Router()
        service.register(on: &router)
        return HTTPApplication(router: router, middlewares: [ErrorMapping()])
    }

    private func get(_ service: StatsService, _ path: String, query: [(String, String)] = [], accept: String? = nil)
        async throws -> Response
    {
        var headers = HTTPHeaders()
        if let accept { headers.set("Accept", accept) }
        return try await app(service).respond(
            to: Request(method: "GET", path: path, query: query.map { (name: $0.0, value: $0.1) }, headers: headers))
    }

    private func object(_ r: Response) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.bodyBytes ?? []))) as? [String: Any] ?? [:]
    }

    @Test func snapshotHasTheDocumentedShape() async throws {
        let (service, control, _) = StatsFixtures.service()
        control.update(StatsFixtures.loop(0)) {
            $0.readBios = 3
            $0.readBytes = 12288
        }
        let r = try await get(service, "/v1/hosts/local/attachments/a1/stats")
        #expect(r.status == 200)
        let o = object(r)
        #expect(o["attachment"] as? String == "a1")
        #expect(o["host"] as? String == "testhost")
        #expect(o["filter"] as? String == "stat")
        #expect((o["device"] as? [String: Any])?["dev"] as? String == "7:0")
        #expect((o["time"] as? String)?.hasSuffix("Z") == true)
        let counters = try #require(o["counters"] as? [String: Any])
        for key in [
            "readBios", "readBytes", "writeBios", "writeBytes", "discardBios", "discardBytes", "flushBios",
            "skippedBios",
            "writeZeroesBios", "writeZeroesBytes",
        ] {
            #expect(counters[key] != nil, "counters.\(key)")
        }
        #expect(counters["readBytes"] as? Int == 12288)
        #expect(Set((o["rates"] as? [String: Any])?.keys.map { $0 } ?? []) == Set(counters.keys))
        #expect((o["filterStatus"] as? [String: Any])?["readBios"] as? Int == 3)
        #expect((o["interval"] as? Double ?? 0) > 0)
    }

    @Test func badQueriesAre400InvalidValueAndStartNothing() async throws {
        let (service, control, _) = StatsFixtures.service()
        let bad: [[(String, String)]] = [
            [("watch", "true"), ("interval", "0.05")], [("watch", "true"), ("interval", "3600.5")],
            [("watch", "true"), ("interval", "abc")], [("watch", "true"), ("interval", "nan")],
            [("watch", "true"), ("interval", "-1")], [("watch", "yes")], [("interval", "2")], [("color", "red")],
            [("watch", "true"), ("watch", "false")],
        ]
        for q in bad {
            let r = try await get(service, "/v1/hosts/local/attachments/a1/stats", query: q)
            #expect(r.status == 400, "\(q)")
            #expect(r.headers["Content-Type"] == "application/problem+json")
            #expect(object(r)["type"] as? String == "urn:dmflt:problem:invalid-value")
        }
        #expect(service.streams.hubCount == 0)
        #expect(control.statusCalls == 0)
    }

    @Test func intervalBoundsAreAccepted() throws {
        for text in ["0.1", "3600", "1", "2.5"] {
            let q = try WatchQuery(
                Request(
                    method: "GET", path: "/", query: [(name: "watch", value: "true"), (name: "interval", value: text)]))
            #expect(q.watch)
        }
        #expect(
            try WatchQuery(Request(method: "GET", path: "/", query: [(name: "watch", value: "true")])).interval
                == .seconds(1))
    }

    @Test func unknownAttachmentOrHostIs404() async throws {
        let (service, _, _) = StatsFixtures.service()
        #expect(try await get(service, "/v1/hosts/local/attachments/zz/stats").status == 404)
        #expect(try await get(service, "/v1/hosts/otherhost/attachments/a1/stats").status == 404)
        #expect(try await get(service, "/v1/hosts/testhost/attachments/a1/stats").status == 200)
    }

    @Test func anAttachmentNotAttachedIs409WithItsPhase() async throws {
        let (service, _, directory) = StatsFixtures.service()
        directory.put(StatsFixtures.target("w1", dev: StatsFixtures.loop(3), phase: "waiting-device"))
        let r = try await get(service, "/v1/hosts/local/attachments/w1/stats")
        #expect(r.status == 409)
        #expect(object(r)["phase"] as? String == "waiting-device")
    }

    @Test func watchAnswersAStreamInTheAskedFormat() async throws {
        let (service, _, _) = StatsFixtures.service()
        let sse = try await get(
            service, "/v1/hosts/local/attachments/a1/stats", query: [("watch", "true")], accept: "text/event-stream")
        #expect(sse.headers["Content-Type"] == "text/event-stream")
        let nd = try await get(service, "/v1/hosts/local/stats", query: [("watch", "true"), ("interval", "0.5")])
        #expect(nd.headers["Content-Type"] == "application/x-ndjson")
        guard case .stream(let s1) = sse.body, case .stream(let s2) = nd.body else {
            Issue.record("not streams")
            return
        }
        let first = String(decoding: await s1.next() ?? [], as: UTF8.self)
        #expect(first.hasPrefix("retry: 3000\nid: 1\nevent: stats\ndata: {"))
        s1.cancel()
        s2.cancel()
        #expect(service.streams.hubCount == 0)
    }

    @Test func hostSnapshotListsAttachedOnes() async throws {
        let (service, _, _) = StatsFixtures.service()
        let r = try await get(service, "/v1/hosts/local/stats")
        #expect(r.status == 200)
        #expect((object(r)["items"] as? [[String: Any]])?.count == 1)
    }
}
