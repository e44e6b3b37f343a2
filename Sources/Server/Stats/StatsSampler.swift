// StatsSampler: takes one attachment's reading (one STATUS IOCTL, plus dm-stats when asked) and remembers the latest.
import Engine
import Foundation
import Synchronization

/// Every reading of the statistics side goes through here, so the latest one per attachment is
/// known to whoever can reuse it (a scrape within a second of a stream's tick costs no IOCTL).
final class StatsSampler: Sendable {
    let control: any FilterControl
    let latency: (any LatencySource)?
    let catalog: FilterCatalog
    private let latest = Mutex<[String: StatsSample]>([:])
    private let clock = ContinuousClock()

    init(control: any FilterControl, latency: (any LatencySource)?, catalog: FilterCatalog = .standard) {
        self.control = control
        self.latency = latency
        self.catalog = catalog
    }

    /// Readings of one attachment closer together than this are one reading: however many streams
    /// watch it, at whatever intervals, it costs at most 20 STATUS IOCTLs a second.
    static let minimumPeriod = Duration.milliseconds(50)

    /// A reading taken on the kernel reading thread (one, so the reuse check and the IOCTL cannot race).
    func sample(_ target: StatsTarget) async throws(FilterControlError) -> StatsSample {
        try await KernelCallThreads.readings.run { [self] () throws(FilterControlError) -> StatsSample in
            if let r = recent(target.id, maxAge: Self.minimumPeriod), r.target == target { return r }
            return try read(target)
        }
    }

    private func read(_ target: StatsTarget) throws(FilterControlError) -> StatsSample {
        let status = try control.status(device: target.device.dev, filter: target.filter)
        let reading = target.wantsLatency ? latency?.read(target) : nil
        let s = StatsSample(
            target: target, time: Date(), instant: clock.now, attachedAt: status.attachment.attachedAt,
            filterStatus: catalog.status(filter: target.filter, text: status.text), latency: reading)
        latest.withLock { $0[target.id] = s }
        return s
    }

    /// The latest reading if it is at most `maxAge` old.
    func recent(_ id: String, maxAge: Duration) -> StatsSample? {
        let now = clock.now
        return latest.withLock { $0[id] }.flatMap { now - $0.instant <= maxAge ? $0 : nil }
    }

    func latestSample(_ id: String) -> StatsSample? { latest.withLock { $0[id] } }

    func forget(_ id: String) {
        latest.withLock { $0[id] = nil }
        latency?.release(attachment: id)
    }
}
