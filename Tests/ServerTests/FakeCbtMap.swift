// FakeCbtMap: dm-flt-cbt's map, marks and answers as the kernel gives them, on a 16 MiB device of 64 KiB blocks, for test doubles.
import Engine
import Foundation

struct FakeCbtMap {
    static let blockSize: UInt64 = 65536
    static let deviceSize: UInt64 = 16 << 20
    var generation = UUID().uuidString.lowercased()
    var sequence: UInt64 = 0
    var map = [UInt8](repeating: 0, count: Int(deviceSize / blockSize))

    mutating func write(block: Int) { map[block] = max(map[block], UInt8(sequence + 1)) }

    var statusLine: String {
        "generation=\(generation) generation_reason=attach generation_ns=1700000000000000000 sequence=\(sequence) "
            + "block_size=\(Self.blockSize) blocks=\(map.count) device_size=\(Self.deviceSize) "
            + "changed_blocks=\(map.filter { $0 != 0 }.count) memory_bytes=\(map.count + 64) track_discards=true"
    }

    /// "mark" and "reset", as the kernel answers them; nil for what it refuses (EINVAL).
    mutating func message(_ text: String) -> String? {
        switch text {
        case "mark":
            sequence += 1
            return "generation=\(generation) sequence=\(sequence) time=1700000000500000000"
        case "reset":
            self = FakeCbtMap()
            return ""
        default:
            return nil
        }
    }

    /// "changes SINCE" (merged extents) and "map"; nil for what the kernel refuses.
    func query(_ text: String) -> KernelQueryReply? {
        let words = text.split(separator: " ")
        var since: UInt64 = 0
        if words == ["map"] {
        } else if words.count == 2, words[0] == "changes", let n = UInt64(words[1]) {
            since = n
        } else {
            return nil
        }
        var bytes = UUID(uuidString: generation).map { u in withUnsafeBytes(of: u.uuid) { Array($0) } } ?? []
        func put(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        for v in [sequence, since, Self.blockSize, Self.deviceSize, UInt64(map.count), 1_700_000_000_000_000_000] {
            put(v)
        }
        if words == ["map"] { return KernelQueryReply(count: 2, payload: bytes + map) }
        var count = 1
        var start: Int?
        for b in 0...map.count {
            let changed = b < map.count && UInt64(map[b]) > since
            if changed, start == nil { start = b }
            if !changed, let s = start {
                put(UInt64(s) * Self.blockSize)
                put(UInt64(b - s) * Self.blockSize)
                count += 1
                start = nil
            }
        }
        return KernelQueryReply(count: count, payload: bytes)
    }
}
