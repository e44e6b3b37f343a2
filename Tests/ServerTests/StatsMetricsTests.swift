// StatsMetricsTests: the /metrics exposition parsed back — names, labels, exact values, resets, removal, OpenMetrics.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct StatsMetricsTests {
    /// sample line -> value, e.g. `dmflt_bios_total{attachment="a1",...,op="read"}` -> 5.
    private func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else {
                continue
            }
            out[String(line[..<space])] = v
        }
        return out
    }

    private func render(_ service: StatsService, openMetrics: Bool = false) async -> String {
        String(decoding: await service.renderMetrics(openMetrics: openMetrics), as: UTF8.self)
    }

    private let labels = "attachment=\"a1\",device=\"loop0\",filter=\"stat\""

    @Test func countersAreTheKernelsExactValues() async {
        let (service, control, _) = StatsFixtures.service()
        control.update(StatsFixtures.loop(0)) {
            $0.readBios = 5
            $0.readBytes = 20480
            $0.flushBios = 2
            $0.skippedBios = 1
        }
        let text = await render(service)
        let s = samples(text)
        #expect(s["dmflt_bios_total{\(labels),op=\"read\"}"] == 5)
        #expect(s["dmflt_bytes_total{\(labels),op=\"read\"}"] == 20480)
        #expect(s["dmflt_bios_total{\(labels),op=\"flush\"}"] == 2)
        #expect(s["dmflt_bios_total{\(labels),op=\"write\"}"] == 0)
        #expect(s["dmflt_skipped_bios_total{\(labels)}"] == 1)
        #expect(
            s[
                "dmflt_attachment_info{attachment=\"a1\",device=\"loop0\",dev=\"7:0\",filter=\"stat\",phase=\"attached\"}"
            ] == 1)
        #expect(s["dmflt_attachments{phase=\"attached\"}"] == 1)
        #expect(s["dmflt_attachments{phase=\"failed\"}"] == 0)
        #expect(s["dmflt_kernel_filter_ioctl_available"] == 1)
        #expect(text.contains("# TYPE dmflt_bios_total counter"))
        #expect(text.contains("# HELP dmflt_bios_total "))
    }

    @Test func valuesFollowTheKernelAcrossScrapesAndResets() async {
        let (service, control, _) = StatsFixtures.service()
        control.update(StatsFixtures.loop(0)) { $0.writeBios = 100 }
        _ = await render(service)
        try? await Task.sleep(for: .milliseconds(1100))  // past the freshness window: a new STATUS
        control.update(StatsFixtures.loop(0)) { $0.writeBios = 250 }
        #expect(samples(await render(service))["dmflt_bios_total{\(labels),op=\"write\"}"] == 250)
        try? await Task.sleep(for: .milliseconds(1100))
        control.update(StatsFixtures.loop(0)) {
            $0 = BioCounters()
            $0.writeBios = 7
        }  // the `reset` message
        #expect(samples(await render(service))["dmflt_bios_total{\(labels),op=\"write\"}"] == 7)
    }

    @Test func aDetachedAttachmentsSeriesGoAway() async {
        let (service, control, directory) = StatsFixtures.service()
        _ = await render(service)
        directory.remove("a1")
        control.detachStat(StatsFixtures.loop(0))
        let text = await render(service)
        #expect(!text.contains("attachment=\"a1\""))
        #expect(samples(text)["dmflt_attachments{phase=\"attached\"}"] == 0)
    }

    @Test func noIoctlIsReportedNotHidden() async {
        let (service, control, _) = StatsFixtures.service()
        control.unavailable = true
        let s = samples(await render(service))
        #expect(s["dmflt_kernel_filter_ioctl_available"] == 0)
        #expect(s["dmflt_kernel_ioctls_total{op=\"list\"}"] == 1)
    }

    @Test func reconcileCountersMove() async {
        let (service, _, _) = StatsFixtures.service()
        service.reconcileRan(errors: 0)
        service.reconcileRan(errors: 3)
        let s = samples(await render(service))
        #expect(s["dmflt_reconcile_runs_total"] == 2)
        #expect(s["dmflt_reconcile_errors_total"] == 3)
    }

    @Test func openMetricsNamesCounterFamiliesWithoutTotalAndEnds() async {
        let (service, _, _) = StatsFixtures.service()
        let text = await render(service, openMetrics: true)
        #expect(text.contains("# TYPE dmflt_bios counter\n"))
        #expect(text.contains("dmflt_bios_total{"))
        #expect(!text.contains("# TYPE dmflt_bios_total"))
        #expect(text.hasSuffix("# EOF\n"))
    }

    @Test func dmLatencyBecomesAHistogramWithExactBucketCounts() async throws {
        let control = StatsFakeControl()
        let directory = StatsFakeDirectory()
        let latency = StatsFakeLatency()
        control.attachStat(StatsFixtures.loop(0))
        directory.put(StatsFixtures.target("dm1", dev: StatsFixtures.loop(0), latency: true))
        let service = StatsService(control: control, directory: directory, hostName: "testhost", latency: latency)
        let json = """
            {"region":{"target":{"name":{"_0":"vg-lv"}},"id":0},
             "counters":{"reads":3,"readsMerged":0,"readSectors":24,"readNs":900000,"writes":1,"writesMerged":0,
               "writeSectors":8,"writeNs":4000000,"ioInProgress":0,"ioNs":0,"weightedIoNs":0,"totalReadNs":0,"totalWriteNs":0},
             "histogram":{"bins":[{"lowerNs":0,"upperNs":1000000,"count":3},{"lowerNs":1000000,"upperNs":10000000,"count":1},
               {"lowerNs":10000000,"count":0}]}}
            """
        let sample = try JSONDecoder().decode(DMStatsSample.self, from: Data(json.utf8))
        latency.reading.withLock { $0 = .sample(sample) }
        let s = samples(await render(service))
        let l = "attachment=\"dm1\",device=\"loop0\""
        #expect(s["dmflt_dm_latency_seconds_bucket{\(l),le=\"0.001\"}"] == 3)
        #expect(s["dmflt_dm_latency_seconds_bucket{\(l),le=\"0.01\"}"] == 4)
        #expect(s["dmflt_dm_latency_seconds_bucket{\(l),le=\"+Inf\"}"] == 4)
        #expect(s["dmflt_dm_latency_seconds_count{\(l)}"] == 4)
        let snapshot = try await service.snapshot(
            StatsFixtures.target("dm1", dev: StatsFixtures.loop(0), latency: true))
        #expect(snapshot.latency?.reads == 3)
        #expect(snapshot.latency?.averageWriteMs == 4)
    }

    @Test func httpMetricsUseRouteTemplates() async throws {
        let (service, _, _) = StatsFixtures.service()
        var router = Router()
        service.register(on: &router)
        let app = HTTPApplication(router: router, middlewares: [service.middleware, ErrorMapping()])
        _ = try await app.respond(to: Request(method: "GET", path: "/v1/hosts/local/attachments/a1/stats"))
        _ = try await app.respond(to: Request(method: "GET", path: "/v1/hosts/local/attachments/nope/stats"))
        _ = try await app.respond(to: Request(method: "GET", path: "/no/such/path"))
        let s = samples(await render(service))
        let route = "/v1/hosts/{host}/attachments/{id}/stats"
        #expect(s["dmflt_http_requests_total{method=\"GET\",route=\"\(route)\",code=\"200\"}"] == 1)
        #expect(s["dmflt_http_requests_total{method=\"GET\",route=\"\(route)\",code=\"404\"}"] == 1)
        #expect(s["dmflt_http_requests_total{method=\"GET\",route=\"unmatched\",code=\"404\"}"] == 1)
        #expect(s["dmflt_http_request_duration_seconds_count{method=\"GET\",route=\"\(route)\"}"] == 2)
    }
}
