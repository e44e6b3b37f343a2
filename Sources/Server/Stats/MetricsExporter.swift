// MetricsExporter: keeps dmfltd's Prometheus registry in step with the attachments and renders the exposition.
import Engine
import Foundation
import Prometheus
import Synchronization

/// Kernel counters are absolute readings, Prometheus counters only grow: each series remembers
/// the value it last exported and moves by the difference, restarting from zero when the kernel's
/// counters restarted (a `reset` message or a re-attach) — which is what a counter reset means to
/// Prometheus' rate(). Series of attachments that went away are unregistered, so no label grows
/// without bound.
final class MetricsExporter: Sendable {
    let registry: PrometheusCollectorRegistry

    private struct Series {
        var target: StatsTarget
        var bios: [(op: String, counter: Counter, value: KeyPath<BioCounters, UInt64>)] = []
        var bytes: [(op: String, counter: Counter, value: KeyPath<BioCounters, UInt64>)] = []
        var skipped: Counter?
        var info: Gauge
        var exported = BioCounters()
        var attachedAt: Date?
        var latency: Counterpart?
        var typeMetrics = FilterTypeMetrics()
        var typeAttachedAt: Date?
    }

    private struct Counterpart {
        var histogram: ValueHistogram
        /// Per-bin counts already replayed into `histogram`.
        var exported: [UInt64]
        var region: UInt64
    }

    private let series = Mutex<[String: Series]>([:])
    private let phaseGauges: [String: Gauge]
    private let ioctlAvailable: Gauge
    private let reconcileRuns: Counter
    private let reconcileErrors: Counter

    static var biosOps: [(String, KeyPath<BioCounters, UInt64>)] {
        [
            ("read", \.readBios), ("write", \.writeBios), ("discard", \.discardBios),
            ("write_zeroes", \.writeZeroesBios),
            ("flush", \.flushBios),
        ]
    }
    static var bytesOps: [(String, KeyPath<BioCounters, UInt64>)] {
        [
            ("read", \.readBytes), ("write", \.writeBytes), ("discard", \.discardBytes),
            ("write_zeroes", \.writeZeroesBytes),
        ]
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        var gauges: [String: Gauge] = [:]
        for phase in MetricNames.phases {
            gauges[phase] = registry.makeGauge(descriptor: MetricNames.attachments, labels: [("phase", phase)])
        }
        phaseGauges = gauges
        ioctlAvailable = registry.makeGauge(descriptor: MetricNames.ioctlAvailable)
        reconcileRuns = registry.makeCounter(descriptor: MetricNames.reconcileRuns)
        reconcileErrors = registry.makeCounter(descriptor: MetricNames.reconcileErrors)
    }

    func reconcileRan(errors: Int) {
        reconcileRuns.increment()
        if errors > 0 { reconcileErrors.increment(by: Int64(errors)) }
    }

    /// Brings every series to the given readings; attachments absent from `targets` lose theirs.
    func update(targets: [StatsTarget], samples: [String: StatsSample], ioctlAvailable available: Bool) {
        ioctlAvailable.set(to: available ? 1.0 : 0.0)
        var byPhase: [String: Int] = [:]
        for t in targets { byPhase[t.phase, default: 0] += 1 }
        for (phase, gauge) in phaseGauges { gauge.set(to: Double(byPhase[phase] ?? 0)) }
        series.withLock { all in
            let wanted = Set(targets.map(\.id))
            for (id, s) in all where !wanted.contains(id) {
                unregister(s)
                all[id] = nil
            }
            for t in targets {
                var s: Series
                if let existing = all[t.id], existing.target == t {
                    s = existing
                } else {
                    // Labels changed (phase, device name): the old series end, new ones start.
                    if let existing = all[t.id] { unregister(existing) }
                    s = makeSeries(t)
                }
                if let sample = samples[t.id] { apply(sample, to: &s) }
                all[t.id] = s
            }
        }
    }

    func render(openMetrics: Bool) -> [UInt8] {
        let text = registry.emitToBuffer()
        return openMetrics ? OpenMetricsText.from(prometheusText: text) : text
    }

    private func deviceLabel(_ t: StatsTarget) -> String { t.device.name.isEmpty ? t.device.path : t.device.name }

    private func makeSeries(_ t: StatsTarget) -> Series {
        let info = registry.makeGauge(
            descriptor: MetricNames.attachmentInfo,
            labels: [
                ("attachment", t.id), ("device", deviceLabel(t)), ("dev", t.device.dev.description),
                ("filter", t.filter),
                ("phase", t.phase),
            ])
        info.set(to: 1.0)
        return Series(target: t, info: info)
    }

    private func apply(_ sample: StatsSample, to s: inout Series) {
        if let counters = sample.counters {
            let labels = [("attachment", s.target.id), ("device", deviceLabel(s.target)), ("filter", s.target.filter)]
            if s.skipped == nil {
                s.bios = Self.biosOps.map {
                    ($0.0, registry.makeCounter(descriptor: MetricNames.bios, labels: labels + [("op", $0.0)]), $0.1)
                }
                s.bytes = Self.bytesOps.map {
                    ($0.0, registry.makeCounter(descriptor: MetricNames.bytes, labels: labels + [("op", $0.0)]), $0.1)
                }
                s.skipped = registry.makeCounter(descriptor: MetricNames.skippedBios, labels: labels)
            }
            let restarted =
                (s.attachedAt != nil && s.attachedAt != sample.attachedAt)
                || zip(CounterRates.fields(counters), CounterRates.fields(s.exported)).contains { $0 < $1 }
            let base = restarted ? BioCounters() : s.exported
            for (_, counter, path) in s.bios + s.bytes {
                Self.advance(counter, from: base[keyPath: path], to: counters[keyPath: path], restarted: restarted)
            }
            Self.advance(s.skipped!, from: base.skippedBios, to: counters.skippedBios, restarted: restarted)
            s.exported = counters
            s.attachedAt = sample.attachedAt
        }
        if case .sample(let dm) = sample.latency { applyLatency(dm, to: &s) }
        let metrics = sample.filterStatus.metrics
        if !metrics.isEmpty {
            let restarted = s.typeAttachedAt != nil && s.typeAttachedAt != sample.attachedAt
            s.typeMetrics.apply(
                metrics, filter: s.target.filter, attachment: s.target.id, restarted: restarted, registry: registry)
            s.typeAttachedAt = sample.attachedAt
        }
    }

    private static func advance(_ counter: Counter, from: UInt64, to: UInt64, restarted: Bool) {
        if restarted { counter.reset() }
        let delta = to - from
        if delta > 0 { counter.increment(by: Int64(clamping: delta)) }
    }

    /// The library's histograms only take observations, so the region's new IOs are replayed into
    /// it bin by bin (each at its bin's midpoint): bucket counts and _count are exact, _sum is an
    /// estimate within the bins' bounds.
    private func applyLatency(_ dm: DMStatsSample, to s: inout Series) {
        let bins = dm.histogram.bins
        guard !bins.isEmpty else { return }
        var part = s.latency
        let restarted =
            part.map { p in
                p.region != dm.region.id || p.exported.count != bins.count
                    || zip(p.exported, bins).contains { $0 > $1.count }
            } ?? true
        if restarted {
            if let old = part { registry.unregisterValueHistogram(old.histogram) }
            let bounds = bins.compactMap(\.upperNs).map { Double($0) / 1e9 }
            let h = registry.makeValueHistogram(
                descriptor: MetricNames.dmLatency,
                labels: [("attachment", s.target.id), ("device", deviceLabel(s.target))], buckets: bounds)
            part = Counterpart(histogram: h, exported: Array(repeating: 0, count: bins.count), region: dm.region.id)
        }
        guard var p = part else { return }
        for (old, new) in zip(p.exported, bins) {
            let lower = Double(new.lowerNs) / 1e9
            let value = new.upperNs.map { (lower + Double($0) / 1e9) / 2 } ?? max(lower * 1.5, 1e-9)
            for _ in 0..<(new.count - old) { p.histogram.record(value) }
        }
        p.exported = bins.map(\.count)
        s.latency = p
    }

    private func unregister(_ s: Series) {
        registry.unregisterGauge(s.info)
        for (_, c, _) in s.bios + s.bytes { registry.unregisterCounter(c) }
        if let c = s.skipped { registry.unregisterCounter(c) }
        if let l = s.latency { registry.unregisterValueHistogram(l.histogram) }
        s.typeMetrics.unregisterAll(registry)
    }
}
