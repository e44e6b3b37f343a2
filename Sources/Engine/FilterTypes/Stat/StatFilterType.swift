// StatFilterType: the `stat` filter: counts the bios and bytes that pass, by operation; `latency` adds dm-stats.
import Foundation

public struct StatFilterType: FilterType {
    public init() {}

    public let spec = FilterTypeSpec(
        name: "stat",
        summary:
            "Counts the bios and bytes a device receives (reads, writes, discards, write-zeroes, flushes); passes every bio on unchanged.",
        options: [
            FilterOptionSpec(
                name: "latency", kind: .bool,
                summary:
                    "Also keep a dm-stats latency histogram of the device (device-mapper devices only), shown in its stats and as dmflt_dm_latency_seconds.",
                defaultValue: .bool(false), scope: .daemon)
        ])

    /// The kernel's words, in its order; each becomes a BioCounters field and a camelCase status key.
    /// (Key paths are immutable values; the array is never written.)
    nonisolated(unsafe) static let words: [(String, WritableKeyPath<BioCounters, UInt64>)] = [
        ("read_bios", \.readBios), ("read_bytes", \.readBytes), ("write_bios", \.writeBios),
        ("write_bytes", \.writeBytes), ("discard_bios", \.discardBios), ("discard_bytes", \.discardBytes),
        ("write_zeroes_bios", \.writeZeroesBios), ("write_zeroes_bytes", \.writeZeroesBytes),
        ("flush_bios", \.flushBios), ("skipped_bios", \.skippedBios),
    ]

    public func status(text: String) throws(FilterStatusError) -> FilterStatus {
        let words = try StatusWords(text, filter: spec.name)
        var counters = BioCounters()
        var fields: [String: JSONValue] = [:]
        for (word, path) in Self.words {
            let value = try words.uint64(word)
            counters[keyPath: path] = value
            fields[StatusWords.camelCase(word)] = .int(Int64(clamping: value))
        }
        // Counters feed dmflt_bios_total and friends, which predate per-type metrics.
        return FilterStatus(fields: fields, counters: counters)
    }
}
