// MetricsMiddleware: counts every HTTP request and times it, labelled by method, route template and status.
import Foundation
import Prometheus
import Synchronization

/// Labels stay bounded: the route is the router's template (never the raw path), an unknown
/// path is "unmatched", and a method outside the usual set is "other".
struct MetricsMiddleware: Middleware {
    let registry: PrometheusCollectorRegistry
    /// The registry's counter and histogram for each label set, looked up once: asking the registry
    /// validates the metric's name and help text and locks it, which cost more than a small request.
    private let handles = HTTPMetricHandles()

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    static let durationBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]
    private static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    func handle(_ request: Request, next: Handler) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request)
            record(request, status: response.status, since: start)
            return response
        } catch {
            record(request, status: Problem.status(of: error), since: start)
            throw error
        }
    }

    func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? {
        let start = ContinuousClock.now
        do {
            guard let response = try next(request) else { return nil }
            record(request, status: response.status, since: start)
            return response
        } catch {
            record(request, status: Problem.status(of: error), since: start)
            throw error
        }
    }

    private func record(_ request: Request, status: Int, since start: ContinuousClock.Instant) {
        let method = Self.methods.contains(request.method) ? request.method : "other"
        let route = request.route ?? "unmatched"
        let (counter, histogram) = handles.lookup(method: method, route: route, status: status) {
            (
                registry.makeCounter(
                    descriptor: MetricNames.httpRequests,
                    labels: [("method", method), ("route", route), ("code", String(status))]),
                registry.makeValueHistogram(
                    descriptor: MetricNames.httpDuration, labels: [("method", method), ("route", route)],
                    buckets: Self.durationBuckets)
            )
        }
        counter.increment()
        histogram.record((ContinuousClock.now - start).seconds)
    }
}

/// Label sets are bounded (routes x methods x statuses), so the map stays small.
final class HTTPMetricHandles: Sendable {
    struct Key: Hashable {
        var method: String
        var route: String
        var status: Int
    }
    typealias Handles = (Counter, ValueHistogram)
    private let known = Mutex<[Key: Handles]>([:])

    func lookup(method: String, route: String, status: Int, make: () -> Handles) -> Handles {
        let key = Key(method: method, route: route, status: status)
        if let found = known.withLock({ $0[key] }) { return found }
        let made = make()
        known.withLock { $0[key] = made }
        return made
    }
}
