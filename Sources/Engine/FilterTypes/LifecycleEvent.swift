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
