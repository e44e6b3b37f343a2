// KernelStatusText: the status lines and query records the real filter type modules write, made for test doubles.
import Engine
import Foundation

enum KernelStatusText {
    /// dm-flt-stat's line for these counters.
    /// cow's line for a 64 MiB device in 64 KiB chunks, a tenth copied to diff storage 7:9.
    static func cow(state: String, openers: Int, error: String? = nil) -> String {
        let why = error ?? (state == "active" ? "none" : state == "overflowed" ? "diff-storage-full" : "invalidated")
        return
            "state=\(state) taken_at=1764633600000000000 chunk_size=65536 device_size=67108864 chunks=1024 copied_chunks=102 diff_storage=7:9 diff_storage_limit=16777216 diff_storage_used=6684672 image=dmflt-cow-0 image_dev=252:0 image_openers=\(openers) cbt_sequence=none cbt_generation=none error=\(why) warned_at=none stopped_at=\(state == "active" ? "none" : "1764633660000000000")"
    }

    /// dm-flt-mirror's line for a 64 MiB source: a quarter copied while copying, all of it after.
    static func mirror(state: String) -> String {
        let copied = state == "copying" ? 16 << 20 : 64 << 20
        let at = { (yes: Bool) in yes ? "1764633660000000000" : "none" }
        return
            "state=\(state) copied_bytes=\(copied) total_bytes=67108864 region_size=1048576 regions=64 copied_regions=\(copied >> 20) bytes_per_second=\(state == "copying" ? 1 << 20 : 0) target=7:1 rate_limit=0 write_waits=0 started_at=1764633600000000000 synchronized_at=\(at(state != "copying")) cutover_at=\(at(state == "cutover")) failed_at=none error=none"
    }

    static func stat(_ c: BioCounters) -> String {
        "read_bios=\(c.readBios) read_bytes=\(c.readBytes) write_bios=\(c.writeBios) write_bytes=\(c.writeBytes) "
            + "discard_bios=\(c.discardBios) discard_bytes=\(c.discardBytes) write_zeroes_bios=\(c.writeZeroesBios) "
            + "write_zeroes_bytes=\(c.writeZeroesBytes) flush_bios=\(c.flushBios) skipped_bios=\(c.skippedBios)"
    }

    /// dm-flt-guard's line: `denied` and `audited` as [op: (bios, bytes)] with the kernel's op words.
    static func guardLine(
        mode: String = "read-only", error: String = "eio", ranges: String = "all", events: UInt64 = 0,
        dropped: UInt64 = 0, denied: [String: (UInt64, UInt64)] = [:], audited: [String: (UInt64, UInt64)] = [:]
    ) -> String {
        var words = ["mode=\(mode)", "error=\(error)", "ranges=\(ranges)", "events=\(events)", "dropped=\(dropped)"]
        for (prefix, table) in [("denied", denied), ("audited", audited)] {
            for op in ["read", "write", "discard", "write_zeroes", "flush"] {
                let (bios, bytes) = table[op] ?? (0, 0)
                words += ["\(prefix)_\(op)_bios=\(bios)", "\(prefix)_\(op)_bytes=\(bytes)"]
            }
        }
        return words.joined(separator: " ")
    }

    /// dm-flt-guard's answer to "events SINCE": a head, then 32-byte events.
    static func guardEvents(
        total: UInt64, dropped: UInt64,
        events: [(seq: UInt64, timeNs: UInt64, offset: UInt64, length: UInt32, op: UInt8, verdict: UInt8)]
    ) -> KernelQueryReply {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        put(total)
        put(dropped)
        for e in events {
            put(e.seq)
            put(e.timeNs)
            put(e.offset)
            put(e.length)
            put(e.op)
            put(e.verdict)
            put(UInt16(0))
        }
        return KernelQueryReply(count: 1 + events.count, payload: bytes)
    }
}
