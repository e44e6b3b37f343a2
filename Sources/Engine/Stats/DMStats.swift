// DMStats: dm-stats regions with latency histograms on dm devices, through libdevmapper's dm_stats_* API.
import CDeviceMapper
import Foundation
import Synchronization

/// Creates, reads and deletes dmflt's own dm-stats regions. `dm_stats_populate` clears the
/// counters it reads, so every region carries dmflt's program id and is never read by anyone
/// else's id here; the running totals live in this instance (use one per process).
public final class DMStats: Sendable {
    public static let defaultProgramID = "dmflt"
    /// 100 µs … 1 s, roughly 1-2.5-5 per decade: enough resolution for disks and SSDs alike.
    public static let defaultLatencyBoundsNs: [UInt64] = [
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000,
    ]

    public let programID: String
    private let totals = Mutex<[DMStatsRegion: DMStatsSample]>([:])

    public init(programID: String = DMStats.defaultProgramID) {
        self.programID = programID
    }

    /// Creates a region spanning the whole device with one area and a latency histogram whose
    /// bins end at `latencyBoundsNs` (ascending, nanoseconds; a last open-ended bin is implied).
    public func createRegion(on target: DMStatsTarget, latencyBoundsNs: [UInt64] = DMStats.defaultLatencyBoundsNs)
        throws(DMStatsError) -> DMStatsRegion
    {
        guard !latencyBoundsNs.isEmpty, latencyBoundsNs.first! > 0,
            zip(latencyBoundsNs, latencyBoundsNs.dropFirst()).allSatisfy({ $0 < $1 })
        else {
            throw DMStatsError(
                operation: "create", target: target,
                description: "latency histogram bounds must be positive and strictly ascending")
        }
        let programID = self.programID
        let id = try withHandle(operation: "create", target: target) { dms -> UInt64? in
            var terminated = latencyBoundsNs + [0]
            guard let bounds = dm_histogram_bounds_from_uint64(&terminated) else { return nil }
            defer { dm_histogram_bounds_destroy(bounds) }
            let precise: Int32 = dm_stats_driver_supports_precise() != 0 ? 1 : 0
            var id: UInt64 = 0
            guard dm_stats_create_region(dms, &id, 0, 0, -1, precise, bounds, programID, nil) != 0 else { return nil }
            return id
        }
        let region = DMStatsRegion(target: target, id: id)
        totals.withLock { $0[region] = nil }
        return region
    }

    /// dmflt's regions on `target` (other programs' regions are not listed).
    public func regions(on target: DMStatsTarget) throws(DMStatsError) -> [DMStatsRegion] {
        let programID = self.programID
        let ids = try withHandle(operation: "list", target: target) { dms -> [UInt64]? in
            guard dm_stats_list(dms, programID) != 0 else { return nil }
            let count = dm_stats_get_nr_regions(dms)
            var ids: [UInt64] = []
            // Region ids index a sparse table; scan it up to the highest id the kernel may have.
            var id: UInt64 = 0
            while ids.count < count && id < 65536 {
                if dm_stats_region_present(dms, id) != 0 { ids.append(id) }
                id += 1
            }
            return ids
        }
        return ids.map { DMStatsRegion(target: target, id: $0) }
    }

    /// Reads the region's counters and histogram, cumulative since it was created (or first read
    /// by this instance).
    public func read(_ region: DMStatsRegion) throws(DMStatsError) -> DMStatsSample {
        let programID = self.programID
        let delta = try withHandle(operation: "read", target: region.target) { dms -> DMStatsSample? in
            guard Self.ownRegion(dms, region.id, programID) else { return nil }
            guard dm_stats_populate(dms, programID, region.id) != 0 else { return nil }
            return Self.sample(dms, region)
        }
        return totals.withLock { totals in
            var total = totals[region] ?? DMStatsSample(region: region, counters: DMStatsCounters(), histogram: .empty)
            total.counters.accumulate(delta.counters)
            total.histogram.accumulate(delta.histogram)
            totals[region] = total
            return total
        }
    }

    public func deleteRegion(_ region: DMStatsRegion) throws(DMStatsError) {
        let programID = self.programID
        _ = try withHandle(operation: "delete", target: region.target) { dms -> Bool? in
            guard Self.ownRegion(dms, region.id, programID) else { return nil }
            return dm_stats_delete_region(dms, region.id) != 0 ? true : nil
        }
        totals.withLock { $0[region] = nil }
    }

    /// Whether `id` is one of `programID`'s regions: listing by program id leaves others' out.
    private static func ownRegion(_ dms: OpaquePointer, _ id: UInt64, _ programID: String) -> Bool {
        dm_stats_list(dms, programID) != 0 && dm_stats_region_present(dms, id) != 0
    }

    private static func sample(_ dms: OpaquePointer, _ region: DMStatsRegion) -> DMStatsSample {
        func counter(_ which: dm_stats_counter_t) -> UInt64 { dm_stats_get_counter(dms, which, region.id, 0) }
        var counters = DMStatsCounters()
        counters.reads = counter(DM_STATS_READS_COUNT)
        counters.readsMerged = counter(DM_STATS_READS_MERGED_COUNT)
        counters.readSectors = counter(DM_STATS_READ_SECTORS_COUNT)
        counters.readNs = counter(DM_STATS_READ_NSECS)
        counters.writes = counter(DM_STATS_WRITES_COUNT)
        counters.writesMerged = counter(DM_STATS_WRITES_MERGED_COUNT)
        counters.writeSectors = counter(DM_STATS_WRITE_SECTORS_COUNT)
        counters.writeNs = counter(DM_STATS_WRITE_NSECS)
        counters.ioInProgress = counter(DM_STATS_IO_IN_PROGRESS_COUNT)
        counters.ioNs = counter(DM_STATS_IO_NSECS)
        counters.weightedIoNs = counter(DM_STATS_WEIGHTED_IO_NSECS)
        counters.totalReadNs = counter(DM_STATS_TOTAL_READ_NSECS)
        counters.totalWriteNs = counter(DM_STATS_TOTAL_WRITE_NSECS)
        var bins: [LatencyHistogram.Bin] = []
        if let histogram = dm_stats_get_histogram(dms, region.id, 0) {
            let count = dm_histogram_get_nr_bins(histogram)
            for bin in 0..<count {
                let upper = dm_histogram_get_bin_upper(histogram, bin)
                bins.append(
                    .init(
                        lowerNs: dm_histogram_get_bin_lower(histogram, bin),
                        upperNs: bin == count - 1 ? nil : upper,
                        count: dm_histogram_get_bin_count(histogram, bin)))
            }
        }
        return DMStatsSample(region: region, counters: counters, histogram: LatencyHistogram(bins: bins))
    }

    private struct HandleFailure: Error {
        var reason: String
    }

    /// Runs `body` with a dm_stats handle bound to `target`, under the libdevmapper lock; a nil
    /// result is a failure described by libdevmapper's captured errors.
    private func withHandle<T>(operation: String, target: DMStatsTarget, _ body: (OpaquePointer) -> T?)
        throws(DMStatsError) -> T
    {
        let programID = self.programID
        let (value, errors) = LibDeviceMapper.call { () -> Result<T, HandleFailure> in
            guard let dms = dm_stats_create(programID) else {
                return .failure(HandleFailure(reason: "cannot allocate a dm_stats handle"))
            }
            defer { dm_stats_destroy(dms) }
            let bound: Int32
            switch target {
            case .name(let name): bound = dm_stats_bind_name(dms, name)
            case .device(let dev): bound = dm_stats_bind_devno(dms, Int32(dev.major), Int32(dev.minor))
            }
            guard bound != 0 else { return .failure(HandleFailure(reason: "cannot bind to it")) }
            guard let value = body(dms) else {
                let reason =
                    operation == "read" || operation == "delete"
                    ? "no such \(programID) region there, or libdevmapper failed" : "libdevmapper failed"
                return .failure(HandleFailure(reason: reason))
            }
            return .success(value)
        }
        switch value {
        case .success(let value):
            return value
        case .failure(let failure):
            let reason = failure.reason
            let detail = errors.isEmpty ? "" : ": " + errors.replacingOccurrences(of: "\n", with: "; ")
            throw DMStatsError(
                operation: operation, target: target,
                description: "dm-stats \(operation) on \(target) failed: \(reason)\(detail)")
        }
    }
}
