// LatencySource: dm-stats latency for attachments that ask for it, one dmflt region per dm device (Engine's DMStats).
import Engine
import Foundation
import Synchronization

protocol LatencySource: Sendable {
    /// Reads (creating on first use) the attachment's region.
    func read(_ target: StatsTarget) -> LatencyReading
    /// The attachment is gone: its region goes too.
    func release(attachment id: String)
}

/// Regions are created lazily on the first read, so an attachment that nobody watches costs no
/// dm-stats region; one found from an earlier run of the daemon is reused rather than doubled.
final class DMStatsLatencySource: LatencySource {
    private let stats: DMStats
    private let regions = Mutex<[String: DMStatsRegion]>([:])

    init(stats: DMStats = DMStats()) {
        self.stats = stats
    }

    func read(_ target: StatsTarget) -> LatencyReading {
        guard let dmName = target.device.dmName else {
            return .unavailable("\(target.device.path) is not a device-mapper device; dm-stats latency needs one.")
        }
        do {
            let region: DMStatsRegion
            if let known = regions.withLock({ $0[target.id] }) {
                region = known
            } else {
                let on = DMStatsTarget.name(dmName)
                region = try stats.regions(on: on).first ?? stats.createRegion(on: on)
                regions.withLock { $0[target.id] = region }
            }
            return .sample(try stats.read(region))
        } catch {
            regions.withLock { $0[target.id] = nil }
            return .unavailable("\(error)")
        }
    }

    func release(attachment id: String) {
        guard let region = regions.withLock({ $0.removeValue(forKey: id) }) else { return }
        try? stats.deleteRegion(region)
    }
}
