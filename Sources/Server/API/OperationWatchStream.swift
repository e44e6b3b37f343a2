// OperationWatchStream: ?watch=true on a filter type's list operation: each new item as an NDJSON line or SSE event.
import Engine
import Foundation
import Synchronization

/// Calls the operation again every `interval` with the last item's cursor, and sends the items
/// that are new. A gap the type reports (`dropped` grew) goes into the next item as "dropped", as
/// stats ticks do. The stream ends with an `end` event when the attachment is gone.
final class OperationWatchStream: ResponseStream {
    let framing: StreamFraming
    private let operation: FilterTypeOperation
    private let cursor: WatchCursor
    private let interval: Duration
    private struct State {
        var call: FilterOperationCall
        var pending: JSONValue?
        var sequence: UInt64 = 0
        var sentPrelude = false
        var ended = false
        var cancelled = false
        var idleTicks = 0
    }
    private let state: Mutex<State>
    /// An idle stream still writes this often, so a client that went away is noticed.
    static let heartbeatTicks = 15

    init(
        operation: FilterTypeOperation, cursor: WatchCursor, call: FilterOperationCall, first: JSONValue,
        interval: Duration, framing: StreamFraming
    ) {
        self.operation = operation
        self.cursor = cursor
        self.interval = interval
        self.framing = framing
        state = Mutex(State(call: call, pending: first))
    }

    func next() async -> [UInt8]? {
        while true {
            let (ready, call): ([UInt8]??, FilterOperationCall) = state.withLock { s in
                if s.cancelled || s.ended { return (.some(nil), s.call) }
                var out: [UInt8] = []
                if !s.sentPrelude {
                    out += framing.prelude
                    s.sentPrelude = true
                }
                if let body = s.pending {
                    s.pending = nil
                    out += items(body, &s)
                }
                if out.isEmpty {
                    s.idleTicks += 1
                    if s.idleTicks >= Self.heartbeatTicks {
                        s.idleTicks = 0
                        return (.some(framing.heartbeat), s.call)
                    }
                    return (nil, s.call)
                }
                s.idleTicks = 0
                return (.some(out), s.call)
            }
            if let ready { return ready }
            guard await sleep() else { return nil }
            do {
                let result = try operation.handler(call)
                state.withLock { $0.pending = result.body }
            } catch {
                let reason = error.kernel?.kind == .notAttached ? "detached" : "error"
                return state.withLock { s in
                    s.ended = true
                    s.sequence += 1
                    return framing.end(reason: reason, sequence: s.sequence)
                }
            }
        }
    }

    func cancel() { state.withLock { $0.cancelled = true } }

    /// Sleeps one interval in short steps, so a cancelled stream lets go of its connection at once.
    private func sleep() async -> Bool {
        let step = Duration.milliseconds(100)
        var left = interval
        while left > .zero {
            if state.withLock({ $0.cancelled }) { return false }
            let now = min(step, left)
            try? await Task.sleep(for: now)
            left -= now
        }
        return !state.withLock { $0.cancelled }
    }

    /// The body's new items, framed; the cursor moves to the last one.
    private func items(_ body: JSONValue, _ s: inout State) -> [UInt8] {
        guard case .object(let object) = body, case .array(let list) = object[cursor.itemsKey] else { return [] }
        var dropped = 0
        if case .int(let n) = object["dropped"], n > 0 { dropped = Int(n) }
        var out: [UInt8] = []
        for item in list {
            guard case .object(let fields) = item, case .int(let position) = fields[cursor.cursorKey] else { continue }
            let json = (try? JSONCoding.encoder.encode(item)).map { Array($0) } ?? Array("{}".utf8)
            s.sequence += 1
            out += framing.event(sequence: s.sequence, json: json, dropped: dropped, name: operation.name)
            dropped = 0
            s.call.query[cursor.parameter] = String(position)
        }
        return out
    }
}
