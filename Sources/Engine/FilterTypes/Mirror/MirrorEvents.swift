// MirrorEvents: GET .../events: a mirror's state changes (copying, synchronized, cutover, failed), watchable.
import Foundation

enum MirrorEvents {
    /// Each state is entered at most once per attachment, so each event's sequence is fixed:
    /// 1 copying, 2 synchronized, 3 cutover, 4 failed.
    static let operation = LifecycleEvent.operation(
        summary:
            "The mirror's state changes, oldest first: copying (1), synchronized (2), cutover (3), failed (4, with its error); ?since=SEQUENCE for newer ones only, ?watch=true to be told as they happen."
    ) { text throws(FilterStatusError) in try events(statusText: text) }

    static func events(statusText: String) throws(FilterStatusError) -> [LifecycleEvent] {
        let words = try StatusWords(statusText, filter: "mirror")
        var list: [LifecycleEvent] = []
        for (sequence, type, word) in [
            (UInt64(1), "copying", "started_at"), (2, "synchronized", "synchronized_at"), (3, "cutover", "cutover_at"),
            (4, "failed", "failed_at"),
        ] {
            guard let at = try words.instant(word) else { continue }
            var fields: [String: JSONValue] = [:]
            if type == "failed" { fields["error"] = .string(try words.string("error")) }
            if type == "copying" { fields["totalBytes"] = .int(Int64(clamping: try words.uint64("total_bytes"))) }
            list.append(LifecycleEvent(sequence: sequence, type: type, nanoseconds: at, fields: fields))
        }
        return list
    }
}
