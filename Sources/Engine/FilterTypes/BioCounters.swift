// BioCounters: bios and bytes per operation, for the filter types that count the IO they see.
import Foundation

/// Cumulative, as the kernel keeps them: a value below an earlier reading means a reset.
public struct BioCounters: Sendable, Equatable, Codable {
    public var readBios: UInt64 = 0
    public var readBytes: UInt64 = 0
    public var writeBios: UInt64 = 0
    public var writeBytes: UInt64 = 0
    public var discardBios: UInt64 = 0
    public var discardBytes: UInt64 = 0
    public var writeZeroesBios: UInt64 = 0
    public var writeZeroesBytes: UInt64 = 0
    public var flushBios: UInt64 = 0
    public var skippedBios: UInt64 = 0

    public init() {}
}
