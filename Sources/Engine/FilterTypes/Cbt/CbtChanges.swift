// CbtChanges: GET .../changes?since=N: the byte extents changed after mark N, or the compact per-block bitmap.
import Foundation

enum CbtChanges {
    static let octetStream = "application/octet-stream"
    static let extentSize = 16
    /// The compact form's first 8 bytes.
    static let magic = Array("DMFLTCBT".utf8)

    static let operation = FilterTypeOperation(
        name: "changes", method: "GET",
        summary:
            "The blocks changed after mark ?since=N (0: since the generation began) as byte extents, sorted and merged; ?generation=G answers 409 generation-changed when the map is no longer G's. With Accept: application/octet-stream, a compact bitmap instead.",
        parameters: ["since", "generation"]
    ) { call throws(FilterOperationError) in
        let since = try call.unsignedParameter("since") ?? 0
        var expected: String?
        if let text = call.query["generation"] {
            guard UUID(uuidString: text) != nil else {
                throw .invalidValue("The query parameter 'generation' must be a UUID, as marks and the status give it.")
            }
            expected = text.lowercased()
        }
        let compact = call.accepts(octetStream)
        let reply: KernelQueryReply
        do throws(FilterControlError) {
            reply = try call.control.query(
                device: call.device, filter: call.filter, text: compact ? "map" : "changes \(since)")
        } catch {
            throw .kernel(error)
        }
        var reader = RecordReader(reply.payload, filter: "cbt")
        guard reply.count >= 1, reply.payload.count >= CbtMapHead.size else {
            throw .malformedReply("cbt's answer has \(reply.count) records in \(reply.payload.count) bytes")
        }
        let head = try CbtMapHead(&reader)
        if let expected, expected != head.generation {
            throw FilterOperationError(
                type: "generation-changed", status: 409, title: "Generation changed",
                detail:
                    "The map is generation \(head.generation) (since \(KernelTime.rfc3339(nanoseconds: head.generationNs))), not \(expected): continuity was lost (attach, reset, resize or sequence wrap), so take a full backup."
            )
        }
        guard since <= head.sequence else {
            throw .invalidValue(
                "There is no mark \(since) yet: generation \(head.generation) is at sequence \(head.sequence).")
        }
        if compact {
            guard reply.count == 2, UInt64(reply.payload.count - CbtMapHead.size) == head.blocks else {
                throw .malformedReply(
                    "cbt's map answer has \(reply.count) records in \(reply.payload.count) bytes for \(head.blocks) blocks"
                )
            }
            return FilterOperationResult(
                raw: RawBody(contentType: octetStream, bytes: bitmap(reply.payload, head, since)))
        }
        guard reply.payload.count == CbtMapHead.size + (reply.count - 1) * extentSize else {
            throw .malformedReply("cbt's changes answer has \(reply.count) records in \(reply.payload.count) bytes")
        }
        return FilterOperationResult(
            raw: RawBody(contentType: "application/json", bytes: try json(reply.payload, head, since)))
    }

    /// The JSON answer, written straight from the kernel's extent records into one buffer: a map
    /// of a 1 TiB device has hundreds of thousands of them, too many to build as JSONValue objects
    /// (or to append byte by byte) in the 2 s a backup tool waits for the whole answer. Keys sorted,
    /// as every other answer has them.
    static func json(_ payload: [UInt8], _ head: CbtMapHead, _ since: UInt64) throws(FilterOperationError) -> [UInt8] {
        let count = (payload.count - CbtMapHead.size) / extentSize
        let front = Array(#"{"blockSize":\#(head.blockSize),"deviceSize":\#(head.deviceSize),"extents":["#.utf8)
        let back = Array(#"],"generation":"\#(head.generation)","sequence":\#(head.sequence),"since":\#(since)}"#.utf8)
        let lengthKey = Array(#"{"length":"#.utf8)
        let offsetKey = Array(#","offset":"#.utf8)
        // per extent: the two keys, '}', ',' and at most 20 digits per number
        let perExtent = lengthKey.count + offsetKey.count + 2 + 40
        var bad: (UInt64, UInt64)?
        let out = [UInt8](unsafeUninitializedCapacity: front.count + back.count + count * perExtent) {
            buffer, initialized in
            var at = 0
            func copy(_ bytes: [UInt8]) {
                bytes.withUnsafeBufferPointer { src in
                    UnsafeMutableRawPointer(buffer.baseAddress! + at).copyMemory(
                        from: src.baseAddress!, byteCount: src.count)
                }
                at += bytes.count
            }
            func decimal(_ value: UInt64) {
                var digits = 1
                var v = value
                while v >= 10 {
                    v /= 10
                    digits += 1
                }
                v = value
                for i in stride(from: at + digits - 1, through: at, by: -1) {
                    buffer[i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
                    v /= 10
                }
                at += digits
            }
            copy(front)
            var end: UInt64 = 0
            payload.withUnsafeBytes { raw in
                for i in 0..<count {
                    let record = CbtMapHead.size + i * extentSize
                    let offset = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: record, as: UInt64.self))
                    let length = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: record + 8, as: UInt64.self))
                    guard length > 0, offset >= end, offset <= head.deviceSize, length <= head.deviceSize - offset
                    else {
                        bad = (offset, length)
                        return
                    }
                    end = offset + length
                    if i > 0 {
                        buffer[at] = UInt8(ascii: ",")
                        at += 1
                    }
                    copy(lengthKey)
                    decimal(length)
                    copy(offsetKey)
                    decimal(offset)
                    buffer[at] = UInt8(ascii: "}")
                    at += 1
                }
            }
            if bad == nil { copy(back) }
            initialized = at
        }
        if let (offset, length) = bad {
            throw .malformedReply("cbt's extent \(offset)+\(length) is out of order or past the device")
        }
        return out
    }

    /// The compact form, little-endian: "DMFLTCBT", the generation's 16 bytes, then u64 sequence,
    /// since, block size, device size and blocks (64 bytes in all), then one bit per block,
    /// block b at bit b % 8 of byte b / 8, set when the block changed after mark `since`.
    static func bitmap(_ payload: [UInt8], _ head: CbtMapHead, _ since: UInt64) -> [UInt8] {
        let blocks = Int(head.blocks)
        var out = magic + head.generationBytes
        for value in [head.sequence, since, head.blockSize, head.deviceSize, head.blocks] {
            for shift in stride(from: 0, to: 64, by: 8) {
                out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            }
        }
        var bits = [UInt8](repeating: 0, count: (blocks + 7) / 8)
        let threshold = since >= 255 ? 255 : UInt8(since)
        payload.withUnsafeBufferPointer { all in
            let map = UnsafeBufferPointer(rebasing: all[CbtMapHead.size...])
            bits.withUnsafeMutableBufferPointer { b in
                for i in 0..<blocks where map[i] > threshold {
                    b[i >> 3] |= UInt8(1) << UInt8(i & 7)
                }
            }
        }
        return out + bits
    }
}
