// StatFilterType: the `stat` filter — counts the bios and bytes that pass, by operation; no options yet.
import Foundation

extension FilterTypeSpec {
    public static let stat = FilterTypeSpec(
        name: "stat",
        summary:
            "Counts the bios and bytes a device receives (reads, writes, discards, write-zeroes, flushes); passes every bio on unchanged.",
        options: [])
}
