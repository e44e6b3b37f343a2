// StatsHub: one sampling loop per (attachment or host, interval), fanning each tick out to every watcher.
import Foundation
import Synchronization

/// However many clients watch, a hub samples once per tick and encodes once; each watcher only
/// frames the shared bytes. Between ticks longer than `heartbeat` it sends heartbeats (a
/// suspended connection notices a vanished client only when it writes) and checks that the
/// attachment still exists.
final class StatsHub: Sendable {
    struct Key: Hashable, Sendable {
        var scope: HubScope
        /// The interval in milliseconds, so equal intervals share a hub.
        var intervalMilliseconds: Int
    }

    static let heartbeat = Duration.seconds(2)

    let key: Key
    private struct State {
        var watchers: [ObjectIdentifier: StatsWatcher] = [:]
        var sequence: UInt64 = 0
        var last: (UInt64, [UInt8])?
        var ended = false
        var task: Task<Void, Never>?
    }
    private let state = Mutex(State())

    init(key: Key) {
        self.key = key
    }

    var watcherCount: Int { state.withLock { $0.watchers.count } }

    /// Starts the loop; `onEnd` runs once when the hub ends on its own (detach), so the registry
    /// forgets it.
    func start(producer: TickProducer, onEnd: @escaping @Sendable (StatsHub) -> Void) {
        let interval = Duration.milliseconds(key.intervalMilliseconds)
        let task = Task { [self] in
            var producer = producer
            let clock = ContinuousClock()
            var deadline = clock.now
            while !Task.isCancelled {
                switch await producer.tick() {
                case .tick(let json):
                    broadcast(json)
                case .end(let reason):
                    end(reason: reason)
                    onEnd(self)
                    return
                }
                deadline += interval
                // A tick that took longer than the interval does not cause a burst of catch-up ticks.
                if deadline < clock.now { deadline = clock.now + interval }
                while !Task.isCancelled {
                    let beat = clock.now + Self.heartbeat
                    if beat >= deadline {
                        try? await Task.sleep(until: deadline, clock: clock)
                        break
                    }
                    try? await Task.sleep(until: beat, clock: clock)
                    if Task.isCancelled { return }
                    if await !producer.stillThere() {
                        end(reason: "detached")
                        onEnd(self)
                        return
                    }
                    for w in watchers() { w.offer(.heartbeat) }
                }
            }
        }
        state.withLock { $0.task = task }
    }

    /// Adds a watcher; false when the hub has already ended (the caller makes a new one). A
    /// joining watcher gets the latest tick at once rather than waiting up to an interval.
    func add(_ watcher: StatsWatcher) -> Bool {
        let last = state.withLock { s -> (UInt64, [UInt8])?? in
            guard !s.ended else { return nil }
            s.watchers[ObjectIdentifier(watcher)] = watcher
            return .some(s.last)
        }
        guard let last else { return false }
        if let (sequence, json) = last { watcher.offer(.tick(sequence, json)) }
        return true
    }

    /// Removes a watcher; true when none is left, and then the loop stops.
    func remove(_ watcher: StatsWatcher) -> Bool {
        let (empty, task) = state.withLock { s -> (Bool, Task<Void, Never>?) in
            s.watchers[ObjectIdentifier(watcher)] = nil
            guard s.watchers.isEmpty else { return (false, nil) }
            s.ended = true
            return (true, s.task)
        }
        task?.cancel()
        return empty
    }

    /// Ends every watcher's stream with a final event and stops sampling.
    func end(reason: String) {
        let (all, task) = state.withLock { s -> ([StatsWatcher], Task<Void, Never>?) in
            s.ended = true
            defer { s.watchers = [:] }
            return (Array(s.watchers.values), s.task)
        }
        for w in all { w.offer(.end(reason: reason)) }
        // From inside the loop (a detach it noticed) this cancels itself, harmlessly: it returns next.
        task?.cancel()
    }

    /// Waits for the sampling loop to finish (after `end` or the last `remove`).
    func finished() async {
        await state.withLock { $0.task }?.value
    }

    private func broadcast(_ json: [UInt8]) {
        let (sequence, all) = state.withLock { s -> (UInt64, [StatsWatcher]) in
            s.sequence += 1
            s.last = (s.sequence, json)
            return (s.sequence, Array(s.watchers.values))
        }
        for w in all { w.offer(.tick(sequence, json)) }
    }

    private func watchers() -> [StatsWatcher] { state.withLock { Array($0.watchers.values) } }
}
