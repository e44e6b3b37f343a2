// DMStatsTypes: the plain values dm-stats reads produce — target, region, counters, latency histogram.
import Foundation

/// The dm device a region lives on.
public enum DMStatsTarget: Sendable, Hashable, Codable, CustomStringConvertible {
    case name(String)
    case device(DeviceNumber)

    public var description: String {
        switch self {
        case .name(let name): "dm device '\(name)'"
        case .device(let dev): "dm device \(dev)"
        }
    }
}

/// One dm-stats region dmflt created (it spans the whole device, one area).
public struct DMStatsRegion: Sendable, Hashable, Codable {
    public var target: DMStatsTarget
    public var id: UInt64

    public init(target: DMStatsTarget, id: UInt64) {
        self.target = target
        self.id = id
    }
}

/// dm-stats counters (see the kernel's Documentation/admin-guide/device-mapper/statistics.rst);
/// times are nanoseconds.
public struct DMStatsCounters: Sendable, Equatable, Codable {
    public var reads: UInt64 = 0
    public var readsMerged: UInt64 = 0
    public var readSectors: UInt64 = 0
    public var readNs: UInt64 = 0
    public var writes: UInt64 = 0
    public var writesMerged: UInt64 = 0
    public var writeSectors: UInt64 = 0
    public var writeNs: UInt64 = 0
    /// A gauge: IOs in flight at the moment of the read.
    public var ioInProgress: UInt64 = 0
    public var ioNs: UInt64 = 0
    public var weightedIoNs: UInt64 = 0
    public var totalReadNs: UInt64 = 0
    public var totalWriteNs: UInt64 = 0

    public init() {}

    /// Adds a delta read from the kernel to a running total; the gauge takes the latest value.
    mutating func accumulate(_ delta: DMStatsCounters) {
        reads &+= delta.reads
        readsMerged &+= delta.readsMerged
        readSectors &+= delta.readSectors
        readNs &+= delta.readNs
        writes &+= delta.writes
        writesMerged &+= delta.writesMerged
        writeSectors &+= delta.writeSectors
        writeNs &+= delta.writeNs
        ioInProgress = delta.ioInProgress
        ioNs &+= delta.ioNs
        weightedIoNs &+= delta.weightedIoNs
        totalReadNs &+= delta.totalReadNs
        totalWriteNs &+= delta.totalWriteNs
    }
}

/// IO completion latency histogram of a region (reads and writes together).
public struct LatencyHistogram: Sendable, Equatable, Codable {
    public struct Bin: Sendable, Equatable, Codable {
        public var lowerNs: UInt64
        /// nil for the last bin, which has no upper bound.
        public var upperNs: UInt64?
        public var count: UInt64

        public init(lowerNs: UInt64, upperNs: UInt64?, count: UInt64) {
            self.lowerNs = lowerNs
            self.upperNs = upperNs
            self.count = count
        }
    }

    public var bins: [Bin]

    public init(bins: [Bin]) {
        self.bins = bins
    }

    static let empty = LatencyHistogram(bins: [])

    public var total: UInt64 { bins.reduce(0) { $0 &+ $1.count } }

    mutating func accumulate(_ delta: LatencyHistogram) {
        guard bins.count == delta.bins.count else {
            bins = delta.bins
            return
        }
        for index in bins.indices { bins[index].count &+= delta.bins[index].count }
    }
}

/// A region's counters and histogram, cumulative since the region was created or first read
/// by this `DMStats` instance.
public struct DMStatsSample: Sendable, Equatable, Codable {
    public var region: DMStatsRegion
    public var counters: DMStatsCounters
    public var histogram: LatencyHistogram

    public init(region: DMStatsRegion, counters: DMStatsCounters, histogram: LatencyHistogram) {
        self.region = region
        self.counters = counters
        self.histogram = histogram
    }
}

/// A failed dm-stats call: what was attempted, on which device, and libdevmapper's own words.
public struct DMStatsError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var target: DMStatsTarget
    public var description: String
}
