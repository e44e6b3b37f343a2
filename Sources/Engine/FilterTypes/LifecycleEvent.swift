// LifecycleEvent: one thing that happened to an attachment at most once (a take, a state entered), as its events operation lists it.
import Foundation

/// Its sequence is fixed per kind of event, so a watcher's `since` cursor stays valid.
struct LifecycleEvent: Equatable {
    var sequence: UInt64
    var type: String
    var nanoseconds: UInt64
    var fields: [String: JSONValue] = [:]

    var json: JSONValue {
        var o = fields
        o["sequence"] = .int(Int64(sequence))
        o["type"] = .string(type)
        o["time"] = .string(KernelTime.rfc3339(nanoseconds: nanoseconds))
        return .object(o)
    }
}

extension LifecycleEvent {
    /// `GET .../events` of a type whose events are read off its status line: the events after
    /// `?since=`, watchable by their sequence.
    static func operation(
        summary: String, events: @escaping @Sendable (String) throws(FilterStatusError) -> [LifecycleEvent]
    ) -> FilterTypeOperation {
        FilterTypeOperation(
            name: "events", method: "GET", summary: summary, parameters: ["since"],
            watch: WatchCursor(itemsKey: "items", cursorKey: "sequence", parameter: "since")
        ) { call throws(FilterOperationError) in
            let since = try call.unsignedParameter("since") ?? 0
            let text: String
            do throws(FilterControlError) {
                text = try call.control.status(device: call.device, filter: call.filter).text
            } catch {
                throw .kernel(error)
            }
            do throws(FilterStatusError) {
                let items = try events(text).filter { $0.sequence > since }.map(\.json)
                return FilterOperationResult(body: .object(["items": .array(items)]))
            } catch {
                throw .malformedReply(error.description)
            }
        }
    }
}
