// CowEvents: GET .../events: what happened to a snapshot (taken, diff storage 80 % used, overflowed or failed), watchable.
import Foundation

enum CowEvents {
    /// Each event happens at most once per snapshot, so its sequence is fixed: 1 taken, 2 the
    /// diff storage reached 80 % of its limit, 3 the snapshot stopped (overflowed or failed).
    static let operation = LifecycleEvent.operation(
        summary:
            "What happened to the snapshot, oldest first: taken (1), diff storage 80 % used (2), overflowed or failed (3); ?since=SEQUENCE for newer ones only, ?watch=true to be told as they happen."
    ) { text throws(FilterStatusError) in try events(statusText: text) }

    static func events(statusText: String) throws(FilterStatusError) -> [LifecycleEvent] {
        let words = try StatusWords(statusText, filter: "cow")
        var list = [LifecycleEvent(sequence: 1, type: "taken", nanoseconds: try words.uint64("taken_at"))]
        if let warned = try words.instant("warned_at") {
            list.append(
                LifecycleEvent(
                    sequence: 2, type: "diff-storage-80-percent", nanoseconds: warned,
                    fields: ["limit": .int(Int64(clamping: try words.uint64("diff_storage_limit")))]))
        }
        if let stopped = try words.instant("stopped_at") {
            list.append(
                LifecycleEvent(
                    sequence: 3, type: try words.string("state"), nanoseconds: stopped,
                    fields: ["error": .string(try words.string("error"))]))
        }
        return list
    }
}
