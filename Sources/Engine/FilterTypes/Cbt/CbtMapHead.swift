// CbtMapHead: the first record of every cbt QUERY answer: which generation and geometry the records describe.
import Foundation

struct CbtMapHead: Equatable {
    static let size = 64

    /// The 16 bytes as the kernel keeps them (RFC 4122 order), and as text, lowercase like the status.
    var generationBytes: [UInt8]
    var generation: String
    var sequence: UInt64
    var since: UInt64
    var blockSize: UInt64
    var deviceSize: UInt64
    var blocks: UInt64
    var generationNs: UInt64

    /// {u8 generation[16]; u64 sequence, since, block_size, device_size, blocks, generation_ns}, little-endian.
    init(_ reader: inout RecordReader) throws(FilterOperationError) {
        var bytes: [UInt8] = []
        for _ in 0..<16 { bytes.append(try reader.uint8()) }
        generationBytes = bytes
        let hex = bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        generation = [0..<4, 4..<6, 6..<8, 8..<10, 10..<16].map { hex[$0].joined() }.joined(separator: "-")
        sequence = try reader.uint64()
        since = try reader.uint64()
        blockSize = try reader.uint64()
        deviceSize = try reader.uint64()
        blocks = try reader.uint64()
        generationNs = try reader.uint64()
        guard blockSize >= 4096, blockSize & (blockSize - 1) == 0, blocks > 0,
            blocks == max(1, (deviceSize + blockSize - 1) / blockSize)
        else {
            throw .malformedReply(
                "cbt's map head has block size \(blockSize), \(blocks) blocks and device size \(deviceSize)")
        }
    }
}
