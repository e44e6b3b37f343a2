// StatsSample: one reading of one attachment (one STATUS IOCTL, plus dm-stats when asked), with when it was taken.
import Engine
import Foundation

struct StatsSample: Sendable {
    var target: StatsTarget
    /// Wall-clock time for the JSON; `instant` for intervals, which must not jump with the clock.
    var time: Date
    var instant: ContinuousClock.Instant
    /// When the kernel says the filter was attached: a new value means a re-attach, so counters restarted.
    var attachedAt: Date
    /// The filter's status as its type reads it (`status.filter`, counters, metrics).
    var filterStatus: FilterStatus
    var latency: LatencyReading?
}

/// A dm-stats reading, or why there is none (the attachment asked for latency but it failed).
enum LatencyReading: Sendable {
    case sample(DMStatsSample)
    case unavailable(String)
}

extension StatsSample {
    /// nil when the filter type keeps no counters.
    var counters: BioCounters? { filterStatus.counters }
}
