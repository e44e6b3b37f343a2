// GuardFilterType: the `guard` filter: read-only, deny (an IO fence) or audit, on the whole device or on byte ranges.
import Foundation

public struct GuardFilterType: FilterType {
    public init() {}

    public let spec = FilterTypeSpec(
        name: "guard",
        summary:
            "Access checks: read-only denies writes, discards and write-zeroes; deny fences every bio; audit lets everything pass and records what read-only would deny. Denied bios fail and never reach the device.",
        options: [
            FilterOptionSpec(
                name: "mode", kind: .string,
                summary:
                    "read-only (reads and empty flushes pass), deny (every bio fails: an IO fence), or audit (everything passes; would-be denials are recorded).",
                defaultValue: .string("read-only"), scope: .kernel, allowedValues: ["read-only", "deny", "audit"]),
            FilterOptionSpec(
                name: "ranges", kind: .ranges,
                summary:
                    "Where the mode applies: OFFSET+LENGTH[,OFFSET+LENGTH...] in bytes, multiples of 512. Left out: the whole device. A bio that meets a range is judged whole; flushes, which touch no range, pass when ranges are given.",
                defaultValue: nil, scope: .kernel, alignment: 512, optional: true),
            FilterOptionSpec(
                name: "error", kind: .string,
                summary:
                    "How a denied bio fails: eio (BLK_STS_IOERR), or target (BLK_STS_TARGET, EREMOTEIO), which dm-multipath does not retry on another path.",
                defaultValue: .string("eio"), scope: .kernel, allowedValues: ["eio", "target"]),
        ])

    public var operations: [FilterTypeOperation] { [GuardEvents.operation] }

    /// The kernel's op words and the API's names for them, in the order both list them.
    static let ops: [(kernel: String, api: String)] = [
        ("read", "read"), ("write", "write"), ("discard", "discard"), ("write_zeroes", "writeZeroes"),
        ("flush", "flush"),
    ]

    public func status(text: String) throws(FilterStatusError) -> FilterStatus {
        let words = try StatusWords(text, filter: spec.name)
        var fields: [String: JSONValue] = [
            "mode": .string(try words.string("mode")),
            "error": .string(try words.string("error")),
        ]
        let ranges = try words.string("ranges")
        fields["wholeDevice"] = .bool(ranges == "all")
        fields["ranges"] = .array(ranges == "all" ? [] : try Self.ranges(ranges))
        fields["events"] = .object([
            "total": .int(Int64(clamping: try words.uint64("events"))),
            "dropped": .int(Int64(clamping: try words.uint64("dropped"))),
        ])
        var metrics: [FilterMetric] = []
        for verdict in ["denied", "audited"] {
            var perOp: [String: JSONValue] = [:]
            for op in Self.ops {
                let bios = try words.uint64("\(verdict)_\(op.kernel)_bios")
                let bytes = try words.uint64("\(verdict)_\(op.kernel)_bytes")
                perOp[op.api] = .object(["bios": .int(Int64(clamping: bios)), "bytes": .int(Int64(clamping: bytes))])
                let labels = [FilterMetric.Label("op", op.kernel)]
                metrics.append(
                    FilterMetric(
                        name: "\(verdict)_bios_total", help: "Bios guard \(verdict), by operation.", kind: .counter,
                        labels: labels, value: Double(bios)))
                metrics.append(
                    FilterMetric(
                        name: "\(verdict)_bytes_total", help: "Bytes of the bios guard \(verdict), by operation.",
                        kind: .counter, labels: labels, value: Double(bytes)))
            }
            fields[verdict] = .object(perOp)
        }
        return FilterStatus(fields: fields, metrics: metrics)
    }

    private static func ranges(_ text: String) throws(FilterStatusError) -> [JSONValue] {
        var out: [JSONValue] = []
        for part in text.split(separator: ",") {
            let pieces = part.split(separator: "+")
            guard pieces.count == 2, let offset = Int64(pieces[0]), let length = Int64(pieces[1]) else {
                throw FilterStatusError(filter: "guard", reason: "'\(part)' is not a range")
            }
            out.append(.object(["offset": .int(offset), "length": .int(length)]))
        }
        return out
    }
}
