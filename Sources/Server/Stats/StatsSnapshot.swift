// StatsSnapshot: the JSON object of one attachment's statistics at one moment (the GET answer and each streamed tick).
import Engine
import Foundation

/// `filter` is the filter's name (as on the attachment resource); the filter's own status, as its
/// type reads it (the attachment's `status.filter`), is `filterStatus`: one key cannot carry both.
struct StatsSnapshot: Sendable, Encodable {
    struct Device: Sendable, Encodable {
        var path: String
        var dev: DeviceNumber
        var name: String
    }

    var attachment: String
    var host: String
    var device: Device
    var filter: String
    var time: Date
    /// Seconds the rates cover (the last sampling interval).
    var interval: Double
    var counters: BioCounters?
    var rates: CounterRates?
    var filterStatus: [String: JSONValue]
    var latency: LatencyResource?

    /// `previous` is the sampling before `current` of the same attachment, if any.
    init(current: StatsSample, previous: StatsSample?) {
        let t = current.target
        attachment = t.id
        host = t.host
        device = Device(path: t.device.path, dev: t.device.dev, name: t.device.name)
        filter = t.filter
        time = current.time
        counters = current.counters
        filterStatus = current.filterStatus.fields
        if let previous, let now = current.counters, let before = previous.counters {
            let seconds = (current.instant - previous.instant).seconds
            interval = seconds
            rates = CounterRates.between(
                before, now, seconds: seconds, restarted: previous.attachedAt != current.attachedAt)
        } else {
            interval = 0
            rates = current.counters == nil ? nil : .zero
        }
        latency = current.latency.map(LatencyResource.init)
    }
}

/// dm-stats of the attachment's dm device: IO counts, total service times and the latency histogram.
struct LatencyResource: Sendable, Encodable {
    struct Bin: Sendable, Encodable {
        var lowerNs: UInt64
        /// nil for the last bin, which is open-ended.
        var upperNs: UInt64?
        var count: UInt64
    }

    var region: UInt64?
    var reads: UInt64?
    var writes: UInt64?
    var readTimeNs: UInt64?
    var writeTimeNs: UInt64?
    /// Mean service time per IO, nil when there was none.
    var averageReadMs: Double?
    var averageWriteMs: Double?
    var inFlight: UInt64?
    var histogram: [Bin]?
    var error: String?

    init(_ reading: LatencyReading) {
        switch reading {
        case .unavailable(let why):
            error = why
        case .sample(let s):
            let c = s.counters
            region = s.region.id
            reads = c.reads
            writes = c.writes
            readTimeNs = c.readNs
            writeTimeNs = c.writeNs
            averageReadMs = c.reads == 0 ? nil : Double(c.readNs) / Double(c.reads) / 1e6
            averageWriteMs = c.writes == 0 ? nil : Double(c.writeNs) / Double(c.writes) / 1e6
            inFlight = c.ioInProgress
            histogram = s.histogram.bins.map { Bin(lowerNs: $0.lowerNs, upperNs: $0.upperNs, count: $0.count) }
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
