// CounterRates: per-second rates between two counter readings, with resets (reset message, re-attach) counted from zero.
import Engine
import Foundation

struct CounterRates: Sendable, Equatable, Encodable {
    var readBios = 0.0
    var readBytes = 0.0
    var writeBios = 0.0
    var writeBytes = 0.0
    var discardBios = 0.0
    var discardBytes = 0.0
    var writeZeroesBios = 0.0
    var writeZeroesBytes = 0.0
    var flushBios = 0.0
    var skippedBios = 0.0

    static let zero = CounterRates()

    /// The counters only grow between resets, and a reset zeroes all of them at once; so any
    /// counter going down (or a new attach time) means the whole reading restarted from zero,
    /// and the rate is what was counted since then, never the huge number a wrapped delta gives.
    static func between(
        _ previous: BioCounters, _ current: BioCounters, seconds: Double, restarted: Bool = false
    ) -> CounterRates {
        guard seconds > 0, seconds.isFinite else { return .zero }
        let reset = restarted || zip(Self.fields(current), Self.fields(previous)).contains { $0 < $1 }
        let base = reset ? BioCounters() : previous
        func rate(_ path: KeyPath<BioCounters, UInt64>) -> Double {
            Double(current[keyPath: path] - base[keyPath: path]) / seconds
        }
        var r = CounterRates()
        r.readBios = rate(\.readBios)
        r.readBytes = rate(\.readBytes)
        r.writeBios = rate(\.writeBios)
        r.writeBytes = rate(\.writeBytes)
        r.discardBios = rate(\.discardBios)
        r.discardBytes = rate(\.discardBytes)
        r.writeZeroesBios = rate(\.writeZeroesBios)
        r.writeZeroesBytes = rate(\.writeZeroesBytes)
        r.flushBios = rate(\.flushBios)
        r.skippedBios = rate(\.skippedBios)
        return r
    }

    static func fields(_ c: BioCounters) -> [UInt64] {
        [
            c.readBios, c.readBytes, c.writeBios, c.writeBytes, c.discardBios, c.discardBytes, c.writeZeroesBios,
            c.writeZeroesBytes, c.flushBios, c.skippedBios,
        ]
    }
}
