// CbtFilterType: the `cbt` filter: changed-block tracking with marks and generations, for incremental backup.
import Foundation

public struct CbtFilterType: FilterType {
    public init() {}

    public let spec = FilterTypeSpec(
        name: "cbt",
        summary:
            "Changed-block tracking: writes, write-zeroes and discards mark the blocks they touch in an in-memory map (one byte per block). Marks split the map into intervals; the changes since a mark are read over REST. A generation id changes whenever continuity is lost.",
        options: [
            FilterOptionSpec(
                name: "block-size", kind: .size,
                summary:
                    "The tracking granularity: a power of two from 4K to 64M. Left out: 64K, doubled until the device has at most 2097152 blocks (a map near 2 MiB for devices up to 128 TiB).",
                defaultValue: nil, scope: .kernel, minimum: 4096, maximum: 64 << 20, powerOfTwo: true,
                optional: true),
            FilterOptionSpec(
                name: "track-discards", kind: .bool,
                summary:
                    "Whether discards (and secure erase) mark the blocks they touch; false for backups that skip discarded blocks.",
                defaultValue: .bool(true), scope: .kernel),
        ])

    public var operations: [FilterTypeOperation] { [CbtMarks.operation, CbtChanges.operation] }

    public func status(text: String) throws(FilterStatusError) -> FilterStatus {
        let words = try StatusWords(text, filter: spec.name)
        let generation = try words.string("generation")
        guard UUID(uuidString: generation) != nil else {
            throw FilterStatusError(filter: spec.name, reason: "generation '\(generation)' is not a UUID")
        }
        let reason = try words.string("generation_reason")
        guard Self.reasons.contains(reason) else {
            throw FilterStatusError(filter: spec.name, reason: "generation_reason '\(reason)' is not one cbt gives")
        }
        let trackDiscards = try words.string("track_discards")
        guard trackDiscards == "true" || trackDiscards == "false" else {
            throw FilterStatusError(filter: spec.name, reason: "track_discards '\(trackDiscards)' is not a bool")
        }
        let sequence = try words.uint64("sequence")
        let changed = try words.uint64("changed_blocks")
        let fields: [String: JSONValue] = [
            "generation": .string(generation),
            "generationReason": .string(reason),
            "generationTime": .string(KernelTime.rfc3339(nanoseconds: try words.uint64("generation_ns"))),
            "sequence": .int(Int64(clamping: sequence)),
            "blockSize": .int(Int64(clamping: try words.uint64("block_size"))),
            "blocks": .int(Int64(clamping: try words.uint64("blocks"))),
            "deviceSize": .int(Int64(clamping: try words.uint64("device_size"))),
            "changedBlocks": .int(Int64(clamping: changed)),
            "memoryBytes": .int(Int64(clamping: try words.uint64("memory_bytes"))),
            "trackDiscards": .bool(trackDiscards == "true"),
        ]
        let metrics = [
            FilterMetric(
                name: "changed_blocks", help: "Blocks cbt has seen change in the current generation.", kind: .gauge,
                value: Double(changed)),
            FilterMetric(
                name: "sequence", help: "Marks taken in cbt's current generation.", kind: .gauge,
                value: Double(sequence)),
        ]
        return FilterStatus(fields: fields, metrics: metrics)
    }

    /// Why the current generation began, as the kernel says it.
    static let reasons = ["attach", "reset", "wrap", "resize"]
}
