// KernelCallIsolationTests: slow kernel calls stall no request that does not need them; watches cost bounded IOCTLs.
import Engine
import Foundation
import Prometheus
import Synchronization
import Testing

@testable import dmfltd

@Suite(.serialized) struct KernelCallIsolationTests {
    /// cores + 1 DELETEs whose detach sleeps 2 s in the "kernel" are in flight: more than there are
    /// libmicrohttpd threads and cooperative pool threads. Health and a stats read still answer at once.
    @Test func slowDetachesHoldUpNeitherHealthNorAStatsRead() async throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let slow = cores + 1
        let h = try APITestHarness()
        for n in 0...UInt32(slow) { h.devices.add(FakeDevices.loop(n)) }
        for n in 0...slow {
            let r = await h.call(
                "PUT", "/v1/hosts/local/attachments/d\(n)", json: #"{"device":"/dev/loop\#(n)","filter":"stat"}"#)
            try #require(r.status == 201)
        }
        let stats = StatsService(
            control: h.control, directory: AttachmentServiceDirectory(service: h.service, hostName: "testhost"),
            hostName: "testhost", latency: StatsFakeLatency(), registry: PrometheusCollectorRegistry())
        var router = h.router
        // h.router already serves the API's /v1/health.
        stats.register(on: &router)
        // Warm the stats path (its first reading needs a second one 200 ms later for rates).
        _ = await stats.snapshotForTest(id: "d\(slow)")
        h.control.detachDelay = .seconds(2)
        var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"))
        config.threadPoolSize = cores
        try await withServer(HTTPApplication(router: router), configure: { $0 = config }) { server in
            let port = server.port
            let control = h.control
            // Plain threads only, for the clients and the clock: a test task waiting on a starved pool
            // would measure its own wait, not the server's.
            let measured = try await onThread { () throws -> [String: Double] in
                let results = Mutex<[Int: (Int, Double)]>([:])
                let group = DispatchGroup()
                for n in 0..<slow {
                    group.enter()
                    Thread {
                        let started = Date()
                        let status =
                            (try? RawClient(port: port).request("DELETE", "/v1/hosts/local/attachments/d\(n)"))?.0
                            .status ?? -1
                        results.withLock { $0[n] = (status, Date().timeIntervalSince(started)) }
                        group.leave()
                    }.start()
                }
                Thread.sleep(forTimeInterval: 0.3)  // every detach is in the "kernel" now
                let inKernel = Double(control.detachCalls)
                let (health, healthSeconds) = try Self.timed(port, "/v1/health")
                let (read, readSeconds) = try Self.timed(port, "/v1/hosts/local/attachments/d\(slow)/stats")
                group.wait()
                let deletes = results.withLock { $0 }
                return [
                    "finishedEarly": inKernel, "health": Double(health), "healthSeconds": healthSeconds,
                    "read": Double(read), "readSeconds": readSeconds,
                    "deletesOK": Double(deletes.values.filter { $0.0 == 204 && $0.1 >= 1.9 }.count),
                ]
            }
            #expect(measured["finishedEarly"] == 0, "the slow detaches had not returned when health was asked")
            #expect(measured["health"] == 200 && measured["read"] == 200, "\(measured)")
            let healthSeconds = measured["healthSeconds"] ?? 99
            let readSeconds = measured["readSeconds"] ?? 99
            #expect(healthSeconds < 0.1, "GET /v1/health took \(healthSeconds) s behind \(slow) slow detaches")
            #expect(readSeconds < 0.1, "a stats read took \(readSeconds) s behind \(slow) slow detaches")
            #expect(measured["deletesOK"] == Double(slow), "every DELETE waited for its detach: \(measured)")
            // Where the wait happened: on dmfltd's own kernel threads, never on a libmicrohttpd thread or
            // the cooperative pool (Linux's dispatch adds pool threads when some block, which would hide a
            // stall in the timings above, but not here).
            let threads = h.control.detachThreads
            #expect(threads.count == slow && threads.allSatisfy { $0 == "kernel" }, "\(threads)")
        }
    }

    static func timed(_ port: UInt16, _ path: String) throws -> (Int, Double) {
        let c = try RawClient(port: port)
        let started = Date()
        let (head, _) = try c.request("GET", path)
        return (head.status, Date().timeIntervalSince(started))
    }

    /// 300 watches of one attachment at 300 distinct intervals (100 to 399 ms): at most
    /// `StatsStreams.intervalsPerScope` sampling loops, and at most one STATUS per `StatsSampler.minimumPeriod`.
    @Test func manyDistinctIntervalsCostABoundedIoctlRate() async throws {
        let (service, control, _) = StatsFixtures.service()
        var watchers: [StatsWatcher] = []
        for i in 0..<300 {
            watchers.append(
                try #require(
                    service.streams.watch(.attachment("a1"), interval: .milliseconds(100 + i), format: .ndjson)))
        }
        #expect(service.streams.hubCount <= StatsStreams.intervalsPerScope)
        try await Task.sleep(for: .milliseconds(300))
        let before = control.statusCalls
        let started = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        let calls = control.statusCalls - before
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        // The documented bound: 1 s / minimumPeriod = 20 STATUS a second per attachment; +1 for the edges.
        let bound = seconds * (1 / (StatsSampler.minimumPeriod / .seconds(1))) + 1
        #expect(Double(calls) <= bound, "\(calls) STATUS in \(seconds) s")
        #expect(calls >= 10, "the watches still sample: \(calls)")
        // Every watcher still gets ticks.
        let first = await watchers[299].next()
        #expect(first != nil)
        await service.shutdown()
    }
}

extension StatsService {
    func snapshotForTest(id: String) async -> StatsSnapshot? {
        guard let target = await directory.attachment(id: id) else { return nil }
        return try? await snapshot(target)
    }
}
