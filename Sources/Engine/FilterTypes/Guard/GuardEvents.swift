// GuardEvents: guard's recent denials (QUERY "events SINCE"), decoded from the kernel's records into the events answer.
enum GuardEvents {
    /// `GET .../events[?since=SEQ]`: the last denials the kernel keeps (256), oldest first.
    static let operation = FilterTypeOperation(
        name: "events", method: "GET",
        summary:
            "The recent denials (in audit mode: would-be denials), oldest first, with how many were dropped; ?since=SEQUENCE for newer ones only, ?watch=true to stream them.",
        parameters: ["since"], watch: WatchCursor(itemsKey: "items", cursorKey: "sequence", parameter: "since")
    ) { call throws(FilterOperationError) in
        let since = try call.unsignedParameter("since") ?? 0
        let reply: KernelQueryReply
        do throws(FilterControlError) {
            reply = try call.control.query(device: call.device, filter: call.filter, text: "events \(since)")
        } catch {
            throw .kernel(error)
        }
        return FilterOperationResult(body: try decode(reply))
    }

    static let headSize = 16
    static let eventSize = 32
    static let ops = ["read", "write", "discard", "writeZeroes", "flush"]
    static let verdicts = ["denied", "audited"]

    /// Records: a head {u64 total, u64 dropped}, then count - 1 events {u64 seq, u64 time_ns,
    /// u64 offset, u32 length, u8 op, u8 verdict, u16 reserved}, little-endian (kernel/dm-flt-guard.c).
    static func decode(_ reply: KernelQueryReply) throws(FilterOperationError) -> JSONValue {
        guard reply.count >= 1, reply.payload.count == headSize + (reply.count - 1) * eventSize else {
            throw .malformedReply(
                "guard's events answer has \(reply.count) records in \(reply.payload.count) bytes")
        }
        var reader = RecordReader(reply.payload, filter: "guard")
        let total = try reader.uint64()
        let dropped = try reader.uint64()
        var items: [JSONValue] = []
        for _ in 1..<reply.count {
            let sequence = try reader.uint64()
            let timeNs = try reader.uint64()
            let offset = try reader.uint64()
            let length = try reader.uint32()
            let op = Int(try reader.uint8())
            let verdict = Int(try reader.uint8())
            _ = try reader.uint16()
            guard op < ops.count, verdict < verdicts.count else {
                throw .malformedReply("guard event \(sequence) has op \(op) and verdict \(verdict)")
            }
            items.append(
                .object([
                    "sequence": .int(Int64(clamping: sequence)),
                    "time": .string(KernelTime.rfc3339(nanoseconds: timeNs)),
                    "op": .string(ops[op]), "offset": .int(Int64(clamping: offset)), "length": .int(Int64(length)),
                    "verdict": .string(verdicts[verdict]),
                ]))
        }
        return .object([
            "items": .array(items), "dropped": .int(Int64(clamping: dropped)), "total": .int(Int64(clamping: total)),
        ])
    }
}
