// CowEvents: GET .../events: what happened to a snapshot (taken, diff storage 80 % used, overflowed or failed), watchable.
import Foundation

enum CowEvents {
    /// Each event happens at most once per snapshot, so its sequence is fixed: 1 taken, 2 the
    /// diff storage reached 80 % of its limit, 3 the snapshot stopped (overflowed or failed).
    static let operation = FilterTypeOperation(
        name: "events", method: "GET",
        summary:
            "What happened to the snapshot, oldest first: taken (1), diff storage 80 % used (2), overflowed or failed (3); ?since=SEQUENCE for newer ones only, ?watch=true to be told as they happen.",
        parameters: ["since"], watch: WatchCursor(itemsKey: "items", cursorKey: "sequence", parameter: "since")
    ) { call throws(FilterOperationError) in
        let since = try call.unsignedParameter("since") ?? 0
        let text: String
        do throws(FilterControlError) {
            text = try call.control.status(device: call.device, filter: call.filter).text
        } catch {
            throw .kernel(error)
        }
        do throws(FilterStatusError) {
            let items = try events(statusText: text).filter { $0.sequence > since }.map(\.json)
            return FilterOperationResult(body: .object(["items": .array(items)]))
        } catch {
            throw .malformedReply(error.description)
        }
    }

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
