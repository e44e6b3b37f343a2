// CbtMarks: POST .../marks ends cbt's current interval (the kernel's "mark" message) and answers where the next begins.
import Foundation

enum CbtMarks {
    /// `POST .../marks`: 201 {generation, sequence, time}. Changes after it count toward the new
    /// sequence; `GET .../changes?since=<sequence>` later reads them.
    static let operation = FilterTypeOperation(
        name: "marks", method: "POST",
        summary:
            "Takes a mark: every write submitted before it is in the intervals up to the returned sequence, every write submitted after the answer in later ones. Answers 201 with the generation, the new sequence and the time."
    ) { call throws(FilterOperationError) in
        if let body = call.body, body != .object([:]) {
            throw .invalidValue("A mark takes no body (or {}).")
        }
        let reply: String
        do throws(FilterControlError) {
            reply = try call.control.message(device: call.device, filter: call.filter, text: "mark")
        } catch {
            throw .kernel(error)
        }
        return FilterOperationResult(status: 201, body: try decode(reply))
    }

    /// The kernel's reply: "generation=UUID sequence=N time=NS".
    static func decode(_ reply: String) throws(FilterOperationError) -> JSONValue {
        let words: StatusWords
        do throws(FilterStatusError) {
            words = try StatusWords(reply, filter: "cbt")
            let generation = try words.string("generation")
            guard UUID(uuidString: generation) != nil, words.all.count == 3 else {
                throw FilterStatusError(filter: "cbt", reason: "not a mark reply")
            }
            return .object([
                "generation": .string(generation),
                "sequence": .int(Int64(clamping: try words.uint64("sequence"))),
                "time": .string(KernelTime.rfc3339(nanoseconds: try words.uint64("time"))),
            ])
        } catch {
            throw .malformedReply("cbt's mark reply '\(reply)' cannot be read: \(error.reason)")
        }
    }
}
