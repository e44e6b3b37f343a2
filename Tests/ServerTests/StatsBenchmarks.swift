// StatsBenchmarks: scripts/bench stats — /metrics render time with 1,000 attachments and the CPU of 200 SSE watchers.
import Engine
import Foundation
import Testing

@testable import dmfltd

/// Runs only from scripts/bench (DMFLT_BENCH=1): it prints figures and asserts only that the
/// measured work really happened (every watcher got its ticks, every attachment was rendered).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["DMFLT_BENCH"] == "1"), .serialized)
struct StatsBenchmarks {
    private func fleet(_ n: Int) -> (StatsService, StatsFakeControl, StatsFakeDirectory) {
        let control = StatsFakeControl()
        let directory = StatsFakeDirectory()
        for i in 0..<n {
            let dev = DeviceNumber(major: 7, minor: UInt32(i))
            control.attachStat(dev)
            control.update(dev) {
                $0.readBios = UInt64(i * 10)
                $0.writeBytes = UInt64(i * 4096)
            }
            directory.put(StatsFixtures.target(String(format: "stat-%05d", i), dev: dev))
        }
        let service = StatsService(control: control, directory: directory, hostName: "bench", latency: nil)
        return (service, control, directory)
    }

    private func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

    @Test func metricsRenderWith1000Attachments() async {
        let (service, control, _) = fleet(1000)
        _ = await service.renderMetrics(openMetrics: false)  // registers every series once
        var fresh: [Double] = []
        var reused: [Double] = []
        var size = 0
        for round in 0..<30 {
            for i in 0..<1000 {
                control.update(DeviceNumber(major: 7, minor: UInt32(i))) { $0.readBios += UInt64(round) }
            }
            let t0 = ContinuousClock.now
            let body = await service.renderMetrics(openMetrics: false, reuseWithin: .zero)
            fresh.append((ContinuousClock.now - t0).seconds * 1000)
            size = body.count
            let t1 = ContinuousClock.now
            _ = await service.renderMetrics(openMetrics: false)
            reused.append((ContinuousClock.now - t1).seconds * 1000)
        }
        let text = String(decoding: await service.renderMetrics(openMetrics: false), as: UTF8.self)
        let series = text.split(separator: "\n").filter { $0.hasPrefix("dmflt_bios_total{") }.count
        #expect(series == 5000)
        let m = median(fresh)
        print(
            String(
                format:
                    "BENCH metrics-render attachments=1000 bytes=%d median_ms=%.2f (1000 STATUS) median_ms_reused=%.2f target_ms=20 ratio=%.2f",
                size, m, median(reused), m / 20))
    }

    @Test func cpuOf200SSEWatchersAt1Hz() async throws {
        for (label, attachments) in [("one-attachment", 1), ("200-attachments", 200)] {
            let (service, _, _) = fleet(attachments)
            var router = Router()
            service.register(on: &router)
            let app = HTTPApplication(router: router, middlewares: [service.middleware, ErrorMapping()])
            let server = HTTPServer(
                configuration: HTTPServerConfiguration(listen: try ListenAddress(host: "127.0.0.1", port: 0)),
                application: app)
            try server.start()
            let paths = (0..<attachments).map { String(format: "/v1/hosts/local/attachments/stat-%05d/stats", $0) }
            let seconds = Double(ProcessInfo.processInfo.environment["DMFLT_BENCH_SECONDS"] ?? "20") ?? 20
            let readyFile = NSTemporaryDirectory() + "dmflt-sse-ready-\(getpid())"
            try? FileManager.default.removeItem(atPath: readyFile)
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            client.arguments = [
                "python3", "Tests/stats/sse_load.py", "127.0.0.1", String(server.port), paths.joined(separator: ","),
                "200", String(seconds), readyFile,
            ]
            let out = Pipe()
            client.standardOutput = out
            try client.run()
            // Polled rather than read line by line: no pool thread may block while the server runs.
            while client.isRunning && !FileManager.default.fileExists(atPath: readyFile) {
                try await Task.sleep(for: .milliseconds(20))
            }
            let cpuStart = Self.cpuSeconds()
            let wallStart = ContinuousClock.now
            while client.isRunning { try await Task.sleep(for: .milliseconds(20)) }
            let cpu = Self.cpuSeconds() - cpuStart
            let wall = (ContinuousClock.now - wallStart).seconds
            let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .split(separator: "\n").map(String.init)
            try? FileManager.default.removeItem(atPath: readyFile)
            await service.shutdown()
            await server.stop()
            let events = lines.last { $0.hasPrefix("events ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
            #expect(lines.contains("ready"))
            #expect(Double(events) >= 200 * (seconds - 2))
            let percent = cpu / wall * 100
            print(
                String(
                    format:
                        "BENCH sse-200-watchers-1hz %@ events=%d wall_s=%.1f cpu_s=%.3f cpu_pct_of_one_core=%.2f target_pct=10 ratio=%.2f",
                    label, events, wall, cpu, percent, percent / 10))
        }
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
