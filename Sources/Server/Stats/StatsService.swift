// StatsService: the statistics side of dmfltd in one piece — stats routes, watch streams, /metrics and its middleware.
import Engine
import Foundation
import Prometheus

/// Wiring: build it first, give `control` (the IOCTL counted for /metrics) to the rest of the
/// daemon, `register(on:)` its routes, put `middleware` into the HTTP application, call
/// `attachmentDetached(id:)` after a detach, `reconcileRan(errors:)` after each pass, and
/// `shutdown()` before stopping the HTTP server.
final class StatsService: Sendable {
    let hostName: String
    let registry: PrometheusCollectorRegistry
    /// The kernel interface with every IOCTL counted; the whole daemon should use this one.
    let control: any FilterControl
    let directory: any AttachmentDirectory
    let sampler: StatsSampler
    let streams: StatsStreams
    let exporter: MetricsExporter
    /// Counts and times every HTTP request (one instance: it keeps the metric handles it looked up).
    let middleware: MetricsMiddleware
    /// A scrape reuses a stream's reading when it is at most this old.
    static let freshness = Duration.seconds(1)

    init(
        control: any FilterControl, directory: any AttachmentDirectory, hostName: String,
        latency: (any LatencySource)? = DMStatsLatencySource(), registry: PrometheusCollectorRegistry? = nil,
        watcherCapacity: Int = StatsWatcher.defaultCapacity
    ) {
        let counted = control as? CountingFilterControl
        let registry = registry ?? PrometheusCollectorRegistry()
        self.registry = registry
        self.control = counted ?? CountingFilterControl(control, registry: registry)
        self.hostName = hostName
        self.directory = directory
        sampler = StatsSampler(control: self.control, latency: latency)
        streams = StatsStreams(hostName: hostName, directory: directory, sampler: sampler, capacity: watcherCapacity)
        exporter = MetricsExporter(registry: registry)
        middleware = MetricsMiddleware(registry: registry)
    }

    func register(on router: inout Router) {
        router.get("/v1/hosts/{host}/attachments/{id}/stats") { [self] r in try await attachmentStats(r) }
        router.get("/v1/hosts/{host}/stats") { [self] r in try await hostStats(r) }
        router.get("/metrics") { [self] r in await metrics(r) }
    }

    /// Ends the attachment's streams with a final "detached" event and drops what was kept for it.
    func attachmentDetached(id: String) {
        streams.attachmentGone(id)
        sampler.forget(id)
    }

    func reconcileRan(errors: Int) { exporter.reconcileRan(errors: errors) }

    /// Ends every stream cleanly (a final "shutdown" event) and stops all sampling.
    func shutdown() async { await streams.shutdown() }

    // MARK: routes

    private func attachmentStats(_ request: Request) async throws -> Response {
        try checkHost(request)
        let query = try WatchQuery(request)
        let id = request.pathParameters["id"] ?? ""
        guard let target = await directory.attachment(id: id) else {
            throw Problem.notFound("No attachment \(WatchQuery.printable(id)) on this host.")
        }
        guard target.isSampleable else {
            throw Problem(
                "not-attached", status: 409, title: "Not attached",
                detail: "The attachment \(id) is \(target.phase); only an attached filter has statistics.",
                extensions: ["phase": target.phase])
        }
        if query.watch { return try stream(.attachment(id), query, request) }
        return try Response.json(try await snapshot(target))
    }

    private func hostStats(_ request: Request) async throws -> Response {
        try checkHost(request)
        let query = try WatchQuery(request)
        if query.watch { return try stream(.host, query, request) }
        var producer = TickProducer(scope: .host, hostName: hostName, directory: directory, sampler: sampler)
        guard case .tick(let json) = await producer.tick() else { throw Problem.internalError("No host statistics.") }
        var h = HTTPHeaders()
        h.set("Content-Type", "application/json")
        return Response(status: 200, headers: h, body: .bytes(json))
    }

    private func stream(_ scope: HubScope, _ query: WatchQuery, _ request: Request) throws -> Response {
        let format = StreamFormat(accept: request.headers["Accept"])
        guard let watcher = streams.watch(scope, interval: query.interval, format: format) else {
            throw Problem("shutting-down", status: 503, title: "Shutting down", detail: "dmfltd is stopping.")
        }
        var h = HTTPHeaders()
        h.set("Content-Type", format.contentType)
        h.set("Cache-Control", "no-cache")
        return Response(status: 200, headers: h, body: .stream(watcher))
    }

    /// A fresh reading; its rates cover the time since the reading before it, or a short
    /// second reading when there is no usable earlier one.
    func snapshot(_ target: StatsTarget) async throws(Problem) -> StatsSnapshot {
        let before = sampler.latestSample(target.id)
        var current = try await read(target)
        var previous = before
        if let p = previous, current.instant - p.instant < .milliseconds(50) { previous = nil }
        if previous == nil, current.counters != nil {
            // Suspends rather than sleeps: no pool thread is held while the counters move.
            try? await Task.sleep(for: .milliseconds(200))
            previous = current
            current = try await read(target)
        }
        return StatsSnapshot(current: current, previous: previous)
    }

    private func read(_ target: StatsTarget) async throws(Problem) -> StatsSample {
        do { return try await sampler.sample(target) } catch { throw Problem.from(error) }
    }

    private func metrics(_ request: Request) async -> Response {
        let openMetrics = (request.headers["Accept"] ?? "").contains("application/openmetrics-text")
        let body = await renderMetrics(openMetrics: openMetrics)
        var h = HTTPHeaders()
        h.set("Content-Type", openMetrics ? OpenMetricsText.contentType : OpenMetricsText.prometheusContentType)
        return Response(status: 200, headers: h, body: .bytes(body))
    }

    /// One pass at scrape time: the attachment list, then each attached filter's counters (a
    /// stream's reading when it is fresh enough, else one STATUS).
    func renderMetrics(openMetrics: Bool, reuseWithin freshness: Duration = StatsService.freshness) async -> [UInt8] {
        let targets = await directory.all()
        let available: Bool
        do {
            _ = try control.listAttachments()
            available = true
        } catch {
            available = false
        }
        var samples: [String: StatsSample] = [:]
        if available {
            for t in targets where t.isSampleable {
                if let fresh = sampler.recent(t.id, maxAge: freshness) {
                    samples[t.id] = fresh
                } else {
                    samples[t.id] = try? await sampler.sample(t)
                }
            }
        }
        exporter.update(targets: targets, samples: samples, ioctlAvailable: available)
        return exporter.render(openMetrics: openMetrics)
    }

    private func checkHost(_ request: Request) throws(Problem) {
        let host = request.pathParameters["host"] ?? ""
        guard host == hostName || host == "local" else {
            throw Problem(
                "not-found", status: 404, title: "Not found",
                detail: "No host '\(WatchQuery.printable(host))'; this is \(hostName) (or 'local').",
                extensions: ["host": WatchQuery.printable(host)])
        }
    }
}
