// FilterTypeMetrics: the series a filter type exports for one attachment (dmflt_<type>_<name>), kept in step with its readings.
import Engine
import Foundation
import Prometheus

/// Counters move by the difference between readings and restart from zero when a reading goes
/// down (a reset in the kernel or a re-attach), as the stat counters do; gauges are set.
struct FilterTypeMetrics {
    private struct Key: Hashable {
        var name: String
        var labels: [FilterMetric.Label]
    }

    private enum Handle {
        case counter(Counter, exported: Double)
        case gauge(Gauge)
    }

    private var handles: [Key: Handle] = [:]

    static func metricName(filter: String, _ metric: FilterMetric) -> String {
        "dmflt_\(filter)_\(metric.name)".map { $0.isLetter || $0.isNumber ? $0 : "_" }.reduce(into: "") {
            $0.append($1)
        }
    }

    mutating func apply(
        _ metrics: [FilterMetric], filter: String, attachment: String, restarted: Bool,
        registry: PrometheusCollectorRegistry
    ) {
        for metric in metrics {
            let key = Key(name: metric.name, labels: metric.labels)
            let labels = [("attachment", attachment)] + metric.labels.map { ($0.name, $0.value) }
            let name = Self.metricName(filter: filter, metric)
            switch (handles[key], metric.kind) {
            case (.counter(let counter, let exported), .counter):
                if restarted || metric.value < exported {
                    counter.reset()
                    Self.increment(counter, by: metric.value)
                } else {
                    Self.increment(counter, by: metric.value - exported)
                }
                handles[key] = .counter(counter, exported: metric.value)
            case (.gauge(let gauge), .gauge):
                gauge.set(to: metric.value)
            default:
                if let old = handles[key] { unregister(old, registry: registry) }
                switch metric.kind {
                case .counter:
                    let counter = registry.makeCounter(name: name, labels: labels, help: metric.help)
                    Self.increment(counter, by: metric.value)
                    handles[key] = .counter(counter, exported: metric.value)
                case .gauge:
                    let gauge = registry.makeGauge(name: name, labels: labels, help: metric.help)
                    gauge.set(to: metric.value)
                    handles[key] = .gauge(gauge)
                }
            }
        }
    }

    private static func increment(_ counter: Counter, by delta: Double) {
        if delta > 0 { counter.increment(by: Int64(clamping: UInt64(delta.rounded()))) }
    }

    func unregisterAll(_ registry: PrometheusCollectorRegistry) {
        for handle in handles.values { unregister(handle, registry: registry) }
    }

    private func unregister(_ handle: Handle, registry: PrometheusCollectorRegistry) {
        switch handle {
        case .counter(let c, _): registry.unregisterCounter(c)
        case .gauge(let g): registry.unregisterGauge(g)
        }
    }
}
