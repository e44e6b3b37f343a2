// StatsRatesTests: rate arithmetic, counter reset and re-attach handling, and the filter status parsing.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct StatsRatesTests {
    private func counters(reads: UInt64, readBytes: UInt64, writes: UInt64 = 0) -> BioCounters {
        var c = BioCounters()
        c.readBios = reads
        c.readBytes = readBytes
        c.writeBios = writes
        return c
    }

    @Test func ratesAreDeltaOverElapsedSeconds() {
        let r = CounterRates.between(
            counters(reads: 100, readBytes: 409_600), counters(reads: 300, readBytes: 1_228_800, writes: 10), seconds: 2
        )
        #expect(r.readBios == 100)
        #expect(r.readBytes == 409_600)
        #expect(r.writeBios == 5)
        #expect(r.discardBios == 0)
    }

    @Test func aCounterGoingDownIsAResetCountedFromZero() {
        // After `reset`, reads went 1000 -> 40 while writes happened to grow 5 -> 8: every rate is
        // what was counted since the reset, not a wrapped 2^64-sized delta and not 8 - 5.
        let r = CounterRates.between(
            counters(reads: 1000, readBytes: 4_096_000, writes: 5), counters(reads: 40, readBytes: 163_840, writes: 8),
            seconds: 4)
        #expect(r.readBios == 10)
        #expect(r.readBytes == 40_960)
        #expect(r.writeBios == 2)
    }

    @Test func aReattachRestartsRatesEvenWhenEveryCounterGrew() {
        let r = CounterRates.between(
            counters(reads: 10, readBytes: 40_960), counters(reads: 30, readBytes: 122_880), seconds: 1, restarted: true
        )
        #expect(r.readBios == 30)
    }

    @Test func noElapsedTimeGivesZeroRatesNotInfinity() {
        let r = CounterRates.between(counters(reads: 1, readBytes: 1), counters(reads: 9, readBytes: 9), seconds: 0)
        #expect(r == .zero)
    }

    @Test func snapshotUsesTheAttachTimeToSeeAReattach() {
        let t = StatsFixtures.target("a", dev: StatsFixtures.loop(0))
        let clock = ContinuousClock()
        let start = clock.now
        let before = StatsSample(
            target: t, time: Date(), instant: start, attachedAt: Date(timeIntervalSince1970: 1),
            filterStatus: FilterStatus(fields: [:], counters: counters(reads: 50, readBytes: 50)), latency: nil)
        let after = StatsSample(
            target: t, time: Date(), instant: start + .seconds(2), attachedAt: Date(timeIntervalSince1970: 2),
            filterStatus: FilterStatus(fields: [:], counters: counters(reads: 60, readBytes: 60)), latency: nil)
        let s = StatsSnapshot(current: after, previous: before)
        #expect(s.interval == 2)
        #expect(s.rates?.readBios == 30)
    }

    /// A type this build does not know: its words become camelCase fields, numbers as numbers.
    @Test func unknownTypesKeyValueStatusBecomesCamelCaseFields() {
        let f = FilterStatus.generic(text: "read_bios=12 mode=ro write_bytes=4096").fields
        #expect(f["readBios"] == .int(12))
        #expect(f["mode"] == .string("ro"))
        #expect(f["writeBytes"] == .int(4096))
    }

    @Test func otherStatusIsKeptWholeAsText() {
        #expect(FilterStatus.generic(text: "tracking 3 blocks").fields == ["text": .string("tracking 3 blocks")])
        #expect(FilterStatus.generic(text: "a=1 a=2").fields == ["text": .string("a=1 a=2")])
        #expect(FilterStatus.generic(text: "").fields == [:])
    }
}
