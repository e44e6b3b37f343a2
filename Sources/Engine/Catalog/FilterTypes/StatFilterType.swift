// StatFilterType: the `stat` filter — counts the bios and bytes that pass, by operation; `latency` adds dm-stats.
import Foundation

extension FilterTypeSpec {
    public static let stat = FilterTypeSpec(
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
}
