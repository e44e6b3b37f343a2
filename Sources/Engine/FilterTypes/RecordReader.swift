// RecordReader: reads a QUERY answer's fixed little-endian records, every read checked against the bytes there are.
import Foundation

public struct RecordReader: Sendable {
    private let bytes: [UInt8]
    private var offset = 0
    private let filter: String

    public init(_ bytes: [UInt8], filter: String) {
        self.bytes = bytes
        self.filter = filter
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func uint64() throws(FilterOperationError) -> UInt64 { try read(8) }
    public mutating func uint32() throws(FilterOperationError) -> UInt32 { UInt32(try read(4)) }
    public mutating func uint16() throws(FilterOperationError) -> UInt16 { UInt16(try read(2)) }
    public mutating func uint8() throws(FilterOperationError) -> UInt8 { UInt8(try read(1)) }

    private mutating func read(_ size: Int) throws(FilterOperationError) -> UInt64 {
        guard remaining >= size else {
            throw .malformedReply(
                "the kernel's \(filter) answer ends \(size - remaining) bytes short of a record at byte \(offset)")
        }
        var value: UInt64 = 0
        for i in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += size
        return value
    }
}
