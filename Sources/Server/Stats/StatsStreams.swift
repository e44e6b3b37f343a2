// StatsStreams: the hubs of all live stats streams, keyed by what they watch and how often.
import Foundation
import Synchronization

/// Lock order: this registry, then a hub, then a watcher; hubs and watchers never call back
/// into the registry while holding their own lock.
final class StatsStreams: Sendable {
    private let hostName: String
    private let directory: any AttachmentDirectory
    private let sampler: StatsSampler
    private let capacity: Int
    private struct State {
        var hubs: [StatsHub.Key: StatsHub] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    init(
        hostName: String, directory: any AttachmentDirectory, sampler: StatsSampler,
        capacity: Int = StatsWatcher.defaultCapacity
    ) {
        self.hostName = hostName
        self.directory = directory
        self.sampler = sampler
        self.capacity = capacity
    }

    /// Distinct intervals sampled at once for one attachment (or the host); see `watch`.
    static let intervalsPerScope = 16

    /// A new watcher of `scope` every `interval`; nil once the service is shutting down. When
    /// `intervalsPerScope` hubs already sample the scope, the watcher joins the one whose interval is
    /// nearest: one client cannot start a sampling loop per millisecond of interval.
    func watch(_ scope: HubScope, interval: Duration, format: StreamFormat) -> StatsWatcher? {
        let ms = max(1, Int((interval.seconds * 1000).rounded()))
        let key = state.withLock { s -> StatsHub.Key in
            let asked = StatsHub.Key(scope: scope, intervalMilliseconds: ms)
            let same = s.hubs.keys.filter { $0.scope == scope }
            guard s.hubs[asked] == nil, same.count >= Self.intervalsPerScope else { return asked }
            return same.min { abs($0.intervalMilliseconds - ms) < abs($1.intervalMilliseconds - ms) } ?? asked
        }
        let watcher = StatsWatcher(framing: StreamFraming(format: format), capacity: capacity) { [weak self] w in
            self?.unwatch(w, key: key)
        }
        let added = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            if let hub = s.hubs[key], hub.add(watcher) { return true }
            let hub = StatsHub(key: key)
            _ = hub.add(watcher)
            s.hubs[key] = hub
            hub.start(
                producer: TickProducer(scope: scope, hostName: hostName, directory: directory, sampler: sampler)
            ) { [weak self] ended in self?.forget(ended) }
            return true
        }
        return added ? watcher : nil
    }

    /// Ends the streams of an attachment that was detached (the hubs notice by themselves too,
    /// at their next tick or heartbeat; this makes it immediate).
    func attachmentGone(_ id: String) {
        let hubs = state.withLock { s -> [StatsHub] in
            let keys = s.hubs.keys.filter { $0.scope == .attachment(id) }
            return keys.compactMap { s.hubs.removeValue(forKey: $0) }
        }
        for hub in hubs { hub.end(reason: "detached") }
    }

    /// Ends every stream with a final "shutdown" event and waits for the sampling loops to stop.
    func shutdown() async {
        let hubs = state.withLock { s -> [StatsHub] in
            s.closed = true
            defer { s.hubs = [:] }
            return Array(s.hubs.values)
        }
        for hub in hubs { hub.end(reason: "shutdown") }
        for hub in hubs { await hub.finished() }
    }

    var hubCount: Int { state.withLock { $0.hubs.count } }

    private func unwatch(_ watcher: StatsWatcher, key: StatsHub.Key) {
        state.withLock { s in
            guard let hub = s.hubs[key] else { return }
            if hub.remove(watcher) { s.hubs[key] = nil }
        }
    }

    private func forget(_ hub: StatsHub) {
        state.withLock { s in
            if s.hubs[hub.key] === hub { s.hubs[hub.key] = nil }
        }
    }
}
