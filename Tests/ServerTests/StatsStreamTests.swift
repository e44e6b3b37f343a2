// StatsStreamTests: watcher queues and drop accounting, NDJSON/SSE framing, one sampling per tick, detach, cancel, shutdown.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct StatsStreamTests {
    private func watcher(_ format: StreamFormat, capacity: Int = 4) -> StatsWatcher {
        StatsWatcher(framing: StreamFraming(format: format), capacity: capacity) { _ in }
    }

    private func tick(_ n: UInt64) -> HubEvent { .tick(n, Array("{\"n\":\(n)}".utf8)) }

    @Test func aSlowReaderLosesTheOldestTicksAndIsToldHowMany() async {
        let w = watcher(.ndjson, capacity: 4)
        for n in 1...10 { w.offer(tick(UInt64(n))) }
        #expect(w.queued == 4)
        let first = String(decoding: await w.next() ?? [], as: UTF8.self)
        #expect(first == "{\"dropped\":6,\"n\":7}\n")
        let second = String(decoding: await w.next() ?? [], as: UTF8.self)
        #expect(second == "{\"n\":8}\n")
        #expect(w.droppedTotal == 6)
    }

    @Test func sseFramingHasRetryIdEventAndData() async {
        let w = watcher(.sse)
        w.offer(tick(41))
        let text = String(decoding: await w.next() ?? [], as: UTF8.self)
        #expect(text == "retry: 3000\nid: 41\nevent: stats\ndata: {\"n\":41}\n\n")
        w.offer(tick(42))
        #expect(String(decoding: await w.next() ?? [], as: UTF8.self) == "id: 42\nevent: stats\ndata: {\"n\":42}\n\n")
    }

    @Test func endComesAfterQueuedTicksThenTheStreamCloses() async {
        let w = watcher(.sse)
        w.offer(tick(1))
        w.offer(.end(reason: "detached"))
        _ = await w.next()
        let end = String(decoding: await w.next() ?? [], as: UTF8.self)
        #expect(end == "id: 2\nevent: end\ndata: {\"end\":true,\"reason\":\"detached\"}\n\n")
        #expect(await w.next() == nil)
    }

    @Test func ndjsonEndIsAFinalObject() async {
        let w = watcher(.ndjson)
        w.offer(.end(reason: "shutdown"))
        #expect(String(decoding: await w.next() ?? [], as: UTF8.self) == "{\"end\":true,\"reason\":\"shutdown\"}\n")
        #expect(await w.next() == nil)
    }

    @Test func aHeartbeatWakesOnlyAnIdleReader() async {
        let w = watcher(.sse)
        w.offer(.heartbeat)  // nobody waiting: nothing queued
        #expect(w.queued == 0)
        async let chunk = w.next()
        try? await Task.sleep(for: .milliseconds(50))
        w.offer(.heartbeat)
        #expect(String(decoding: await chunk ?? [], as: UTF8.self) == "retry: 3000\n: heartbeat\n\n")
    }

    @Test func cancelWakesAPendingReaderWithTheEnd() async {
        let w = watcher(.ndjson)
        async let chunk = w.next()
        try? await Task.sleep(for: .milliseconds(50))
        w.cancel()
        #expect(await chunk == nil)
    }

    @Test func acceptHeaderPicksTheFormat() {
        #expect(StreamFormat(accept: "text/event-stream") == .sse)
        #expect(StreamFormat(accept: "application/json, text/event-stream;q=0.9") == .sse)
        #expect(StreamFormat(accept: "*/*") == .ndjson)
        #expect(StreamFormat(accept: nil) == .ndjson)
    }

    @Test func tenWatchersShareOneSamplingPerTick() async throws {
        let (service, control, _) = StatsFixtures.service()
        let watchers = (0..<10).compactMap { _ in
            service.streams.watch(.attachment("a1"), interval: .milliseconds(100), format: .sse)
        }
        #expect(watchers.count == 10)
        #expect(service.streams.hubCount == 1)
        var highestID = 0
        for w in watchers {
            let text = await StatsFixtures.collect(w) { $0.components(separatedBy: "event: stats").count > 5 }
            let ids = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int($0.dropFirst(4)) }
            #expect(ids.count >= 5)
            highestID = max(highestID, ids.max() ?? 0)
        }
        for w in watchers { w.cancel() }
        #expect(service.streams.hubCount == 0)
        // At most one STATUS per tick (the tick id), plus one tick in flight when the last watcher
        // left; a sampler per watcher would have made at least 50. Fewer is right too: ticks that
        // a loaded machine delays come closer than StatsSampler.minimumPeriod and share a reading.
        let calls = control.statusCalls
        #expect(highestID >= 5)
        #expect(calls >= 1)
        #expect(calls <= highestID + 1)
    }

    @Test func differentIntervalsGetTheirOwnHub() async {
        let (service, _, _) = StatsFixtures.service()
        let a = service.streams.watch(.attachment("a1"), interval: .seconds(1), format: .ndjson)
        let b = service.streams.watch(.attachment("a1"), interval: .milliseconds(500), format: .ndjson)
        #expect(service.streams.hubCount == 2)
        a?.cancel()
        #expect(service.streams.hubCount == 1)
        b?.cancel()
        #expect(service.streams.hubCount == 0)
    }

    @Test func streamedTicksCarryCountersAndRates() async throws {
        let (service, control, _) = StatsFixtures.service()
        let w = try #require(service.streams.watch(.attachment("a1"), interval: .milliseconds(100), format: .ndjson))
        _ = await StatsFixtures.collect(w) { !$0.isEmpty }
        control.update(StatsFixtures.loop(0)) {
            $0.writeBios += 100
            $0.writeBytes += 409_600
        }
        let text = await StatsFixtures.collect(w) { $0.contains("\"writeBios\":100") && $0.hasSuffix("\n") }
        w.cancel()
        let line = try #require(text.split(separator: "\n").first { $0.contains("\"writeBios\":100") })
        let object = StatsFixtures.json(line)
        let rates = try #require(object["rates"] as? [String: Any])
        let interval = try #require(object["interval"] as? Double)
        #expect(interval > 0)
        // The whole delta fell into this tick's interval.
        let rate = try #require(rates["writeBios"] as? Double)
        #expect(abs(rate * interval - 100) < 0.001)
        #expect((object["filterStatus"] as? [String: Any])?["writeBios"] as? Int == 100)
    }

    @Test func detachingEndsTheStreamsWithAFinalEvent() async throws {
        let (service, control, directory) = StatsFixtures.service()
        let w = try #require(service.streams.watch(.attachment("a1"), interval: .seconds(3600), format: .sse))
        _ = await StatsFixtures.collect(w) { $0.contains("event: stats") }
        directory.remove("a1")
        control.detachStat(StatsFixtures.loop(0))
        service.attachmentDetached(id: "a1")
        let rest = await StatsFixtures.collect(w) { _ in false }
        #expect(rest.contains("event: end\ndata: {\"end\":true,\"reason\":\"detached\"}"))
        #expect(service.streams.hubCount == 0)
    }

    @Test func aDetachIsNoticedWithoutBeingTold() async throws {
        let (service, _, directory) = StatsFixtures.service()
        let w = try #require(service.streams.watch(.attachment("a1"), interval: .seconds(3600), format: .ndjson))
        _ = await StatsFixtures.collect(w) { !$0.isEmpty }
        directory.remove("a1")
        // Not told: the hub finds out at its next heartbeat, long before the next hourly tick.
        let rest = await StatsFixtures.collect(w) { _ in false }
        #expect(rest.hasSuffix("{\"end\":true,\"reason\":\"detached\"}\n"))
    }

    @Test func shutdownEndsEveryStream() async throws {
        let (service, control, directory) = StatsFixtures.service()
        control.attachStat(StatsFixtures.loop(1))
        directory.put(StatsFixtures.target("a2", dev: StatsFixtures.loop(1)))
        let a = try #require(service.streams.watch(.attachment("a1"), interval: .seconds(1), format: .ndjson))
        let b = try #require(service.streams.watch(.host, interval: .seconds(1), format: .sse))
        await service.shutdown()
        let ta = await StatsFixtures.collect(a) { _ in false }
        let tb = await StatsFixtures.collect(b) { _ in false }
        #expect(ta.hasSuffix("{\"end\":true,\"reason\":\"shutdown\"}\n"))
        #expect(tb.contains("event: end\ndata: {\"end\":true,\"reason\":\"shutdown\"}"))
        #expect(service.streams.watch(.attachment("a1"), interval: .seconds(1), format: .ndjson) == nil)
    }

    @Test func hostStreamCarriesEveryAttachedAttachment() async throws {
        let (service, control, directory) = StatsFixtures.service()
        control.attachStat(StatsFixtures.loop(1))
        directory.put(StatsFixtures.target("a2", dev: StatsFixtures.loop(1)))
        directory.put(StatsFixtures.target("w3", dev: StatsFixtures.loop(2), phase: "waiting-device"))
        let w = try #require(service.streams.watch(.host, interval: .milliseconds(100), format: .ndjson))
        let text = await StatsFixtures.collect(w) { $0.hasSuffix("\n") }
        w.cancel()
        let object = StatsFixtures.json(text.split(separator: "\n")[0])
        let items = try #require(object["items"] as? [[String: Any]])
        #expect(items.compactMap { $0["attachment"] as? String }.sorted() == ["a1", "a2"])
        #expect(object["host"] as? String == "testhost")
    }
}
