// MirrorFilterTypeTests: mirror's options, its status as status.filter and metrics, its events, and what a detach reports.
import Foundation
import Testing

@testable import Engine

@Suite struct MirrorFilterTypeTests {
    let mirror = MirrorFilterType()

    static func line(_ extra: [String: String] = [:]) -> String {
        let words: [(String, String)] = [
            ("state", "copying"), ("copied_bytes", "268435456"), ("total_bytes", "1073741824"),
            ("region_size", "1048576"), ("regions", "1024"), ("copied_regions", "256"),
            ("bytes_per_second", "104857600"), ("target", "7:9"), ("rate_limit", "0"), ("write_waits", "3"),
            ("started_at", "1700000000000000000"), ("synchronized_at", "none"), ("cutover_at", "none"),
            ("failed_at", "none"), ("error", "none"),
        ]
        return words.map { "\($0.0)=\(extra[$0.0] ?? $0.1)" }.joined(separator: " ")
    }

    @Test func theTargetIsADeviceAndTheKernelGetsItsNumber() throws {
        let v = try FilterCatalog.standard.validate(
            filter: "mirror", options: ["target": .string("/dev/sdb"), "rate-limit": .string("100M")]
        ) { text throws(CatalogError) in
            #expect(text == "/dev/sdb")
            return DeviceNumber(major: 8, minor: 16)
        }
        #expect(v.kernelText == "target=8:16 rate-limit=104857600 region-size=1048576")
        #expect(mirror.spec.copyTargets == ["target"])
        #expect(!mirror.spec.attachOnce)
        #expect(mirror.spec.forceDetach?.type == "cutover-active" && mirror.spec.forceDetach?.message == "release")
        let lasting = try #require(mirror.spec.lastingMessages.first)
        #expect(lasting.message == "cutover")
        #expect(
            lasting.reason(at: "2026-12-04T10:00:00Z")
                == "the source is stale since cutover at 2026-12-04T10:00:00Z: point consumers at the target")
    }

    @Test func badOptionsAreRefused() {
        let device: (String) throws(CatalogError) -> DeviceNumber = { _ in DeviceNumber(major: 8, minor: 16) }
        for bad: [String: OptionValue] in [
            [:], ["target": .string("/dev/sdb"), "region-size": .string("100000")],
            ["target": .string("/dev/sdb"), "region-size": .string("32K")],
            ["target": .string("/dev/sdb"), "region-size": .string("2G")],
            ["target": .string("/dev/sdb"), "rate-limit": .int(-1)], ["target": .bool(true)],
        ] {
            #expect(throws: CatalogError.self, "\(bad)") {
                try FilterCatalog.standard.validate(filter: "mirror", options: bad, resolveDevice: device)
            }
        }
    }

    @Test func copyingShowsProgressRateAndTimeLeft() throws {
        let s = try mirror.status(text: Self.line())
        #expect(s.fields["state"] == .string("copying"))
        #expect(s.fields["copiedBytes"] == .int(268_435_456) && s.fields["totalBytes"] == .int(1_073_741_824))
        #expect(s.fields["bytesPerSecond"] == .int(104_857_600))
        #expect(s.fields["secondsLeft"] == .int(7))  // 768 MiB at 100 MiB/s
        #expect(s.fields["startedAt"] == .string(KernelTime.rfc3339(nanoseconds: 1_700_000_000_000_000_000)))
        #expect(s.fields["synchronizedAt"] == .null && s.fields["error"] == .null)
        let states = s.metrics.filter { $0.name == "state" }
        #expect(states.map(\.labels.first?.value) == MirrorFilterType.states)
        #expect(states.map(\.value) == [1, 0, 0, 0])
        #expect(s.metrics.first { $0.name == "copied_bytes" }?.value == 268_435_456)
    }

    @Test func synchronizedHasNoRateAndFailedNamesItsError() throws {
        let synced = try mirror.status(
            text: Self.line([
                "state": "synchronized", "copied_bytes": "1073741824", "synchronized_at": "1700000000900000000",
            ]))
        #expect(synced.fields["bytesPerSecond"] == nil && synced.fields["secondsLeft"] == nil)
        let failed = try mirror.status(
            text: Self.line(["state": "failed", "error": "target-write-failed", "failed_at": "1700000000100000000"]))
        #expect(failed.fields["error"] == .string("target-write-failed"))
        #expect(throws: FilterStatusError.self) { try mirror.status(text: Self.line(["state": "mirroring"])) }
        #expect(throws: FilterStatusError.self) { try mirror.status(text: Self.line(["error": "oops"])) }
        #expect(throws: FilterStatusError.self) { try mirror.status(text: Self.line(["cutover_at": "soon"])) }
    }

    @Test func eventsFollowTheStatesWithFixedSequences() throws {
        let text = Self.line([
            "state": "cutover", "synchronized_at": "1700000000900000000", "cutover_at": "1700000001000000000",
        ])
        let events = try MirrorEvents.events(statusText: text)
        #expect(events.map(\.sequence) == [1, 2, 3])
        #expect(events.map(\.type) == ["copying", "synchronized", "cutover"])
        let failed = try MirrorEvents.events(
            statusText: Self.line([
                "state": "failed", "error": "source-read-failed", "failed_at": "1700000000100000000",
            ]))
        #expect(failed.map(\.sequence) == [1, 4])
        #expect(failed.last?.fields["error"] == .string("source-read-failed"))
    }

    @Test func aDetachBeforeTheCopyEndsSaysTheTargetIsIncomplete() throws {
        let report = try #require(mirror.detachReport(statusText: Self.line()))
        #expect(report["targetComplete"] == .bool(false) && report["copiedBytes"] == .int(268_435_456))
        #expect(mirror.detachReport(statusText: Self.line(["state": "synchronized"])) == nil)
        #expect(mirror.detachReport(statusText: Self.line(["state": "cutover"])) == nil)
        #expect(mirror.detachReport(statusText: "garbage") == nil)
    }
}
