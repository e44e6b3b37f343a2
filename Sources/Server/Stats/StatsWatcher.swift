// StatsWatcher: one client's stream of ticks — a bounded queue between the hub's ticks and the HTTP layer's pulls.
import Foundation
import Synchronization

/// What a hub hands its watchers.
enum HubEvent: Sendable {
    /// A tick: its sequence number and the JSON object, encoded once for every watcher.
    case tick(UInt64, [UInt8])
    case heartbeat
    case end(reason: String)
}

/// The HTTP layer asks for the next chunk only once the previous one is handed to the socket, so
/// the queue here is what a slow client accumulates: at `capacity` the oldest tick goes and the
/// next one delivered says how many went. No thread waits here: `next()` suspends on a
/// continuation that the hub's tick (or the end, or cancel) resumes.
final class StatsWatcher: ResponseStream {
    static let defaultCapacity = 16

    let framing: StreamFraming
    let capacity: Int
    private let onCancel: @Sendable (StatsWatcher) -> Void

    private struct State {
        var queue: [(UInt64, [UInt8])] = []
        var head = 0
        var dropped = 0
        var droppedTotal = 0
        var endReason: String?
        var lastSequence: UInt64 = 0
        var endDelivered = false
        var cancelled = false
        var preludeSent = false
        var waiting: CheckedContinuation<[UInt8]?, Never>?

        var pending: Int { queue.count - head }
    }
    private let state = Mutex(State())

    init(
        framing: StreamFraming, capacity: Int = StatsWatcher.defaultCapacity,
        onCancel: @escaping @Sendable (StatsWatcher) -> Void
    ) {
        self.framing = framing
        self.capacity = max(1, capacity)
        self.onCancel = onCancel
    }

    /// Ticks this watcher lost to its queue bound so far.
    var droppedTotal: Int { state.withLock { $0.droppedTotal } }
    var queued: Int { state.withLock { $0.pending } }

    func offer(_ event: HubEvent) {
        let delivery = state.withLock { s -> (CheckedContinuation<[UInt8]?, Never>, [UInt8])? in
            guard !s.cancelled, s.endReason == nil else { return nil }
            switch event {
            case .tick(let sequence, let json):
                s.lastSequence = sequence
                s.queue.append((sequence, json))
                if s.pending > capacity {
                    s.head += 1
                    s.dropped += 1
                    s.droppedTotal += 1
                }
                compact(&s)
            case .heartbeat:
                // Only an idle connection needs one; a busy one is writing anyway.
                guard s.pending == 0, let c = s.waiting else { return nil }
                s.waiting = nil
                return (c, withPrelude(&s, framing.heartbeat))
            case .end(let reason):
                s.endReason = reason
            }
            guard let c = s.waiting, let chunk = take(&s) else { return nil }
            s.waiting = nil
            return (c, chunk)
        }
        if let (c, chunk) = delivery { c.resume(returning: chunk) }
    }

    func next() async -> [UInt8]? {
        if let ready = state.withLock({ s -> [UInt8]?? in s.cancelled ? .some(nil) : take(&s).map { .some($0) } }) {
            return ready
        }
        return await withCheckedContinuation { c in
            let now = state.withLock { s -> [UInt8]?? in
                if s.cancelled { return .some(nil) }
                if let chunk = take(&s) { return .some(chunk) }
                if s.endDelivered { return .some(nil) }
                s.waiting = c
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }

    func cancel() {
        let waiting = state.withLock { s -> CheckedContinuation<[UInt8]?, Never>? in
            s.cancelled = true
            s.queue = []
            s.head = 0
            defer { s.waiting = nil }
            return s.waiting
        }
        waiting?.resume(returning: nil)
        onCancel(self)
    }

    /// The next chunk: a tick (carrying the drop count), else the end event once, else nil.
    private func take(_ s: inout State) -> [UInt8]? {
        if s.pending > 0 {
            let (sequence, json) = s.queue[s.head]
            s.head += 1
            compact(&s)
            let chunk = framing.event(sequence: sequence, json: json, dropped: s.dropped)
            s.dropped = 0
            return withPrelude(&s, chunk)
        }
        if let reason = s.endReason, !s.endDelivered {
            s.endDelivered = true
            return withPrelude(&s, framing.end(reason: reason, sequence: s.lastSequence + 1))
        }
        return nil
    }

    private func withPrelude(_ s: inout State, _ chunk: [UInt8]) -> [UInt8] {
        guard !s.preludeSent else { return chunk }
        s.preludeSent = true
        return framing.prelude + chunk
    }

    private func compact(_ s: inout State) {
        if s.head > capacity {
            s.queue.removeFirst(s.head)
            s.head = 0
        }
    }
}
