// MirrorFilterType: the `mirror` filter: live migration of a device in use onto another device, with progress and cutover.
import Foundation

public struct MirrorFilterType: FilterType {
    public init() {}

    public static let minimumRegion: Int64 = 64 << 10
    public static let maximumRegion: Int64 = 1 << 30
    public static let states = ["copying", "synchronized", "cutover", "failed"]
    public static let errors = [
        "none", "target-write-failed", "source-read-failed", "out-of-memory", "source-did-not-drain",
    ]

    public let spec = FilterTypeSpec(
        name: "mirror",
        summary:
            "Live migration: a background copy carries the device's data onto the target, region by region, while writes to copied regions go to both devices. Once synchronized, the message cutover redirects every bio of the device to the target in one atomic step; the device's node stays in place and its own media gets no more IO. A failing target fails the mirror, never the device's IO.",
        options: [
            FilterOptionSpec(
                name: "target", kind: .device,
                summary:
                    "The device to migrate onto: at least as large as this one, not this device, not on its disk, and not stacked on it or under it. Opened exclusively: nothing else may use it.",
                defaultValue: nil, scope: .kernel),
            FilterOptionSpec(
                name: "rate-limit", kind: .size,
                summary:
                    "The background copy's bytes per second; 0 is unlimited. The copy also yields to the device's own IO (one region at a time while it is busy).",
                defaultValue: .int(0), scope: .kernel, minimum: 0),
            FilterOptionSpec(
                name: "region-size", kind: .size,
                summary: "The copy unit: a power of two from 64K to 1G.",
                defaultValue: .int(1 << 20), scope: .kernel, minimum: minimumRegion, maximum: maximumRegion,
                powerOfTwo: true),
        ],
        copyTargets: ["target"],
        forceDetach: .init(
            busy:
                "the mirror is cut over: every bio goes to the target, and a detach would send them back to the stale source",
            message: "release", type: "cutover-active"),
        lastingMessages: [
            FilterTypeSpec.LastingMessage(
                message: "cutover",
                reason: "the source is stale since cutover at %@: point consumers at the target")
        ])

    public var operations: [FilterTypeOperation] { [MirrorEvents.operation] }

    public func detachReport(statusText: String) -> [String: JSONValue]? {
        guard let words = try? StatusWords(statusText, filter: spec.name), let state = try? words.string("state"),
            state == "copying" || state == "failed", let copied = try? words.uint64("copied_bytes"),
            let total = try? words.uint64("total_bytes"), let target = try? words.string("target")
        else { return nil }
        return [
            "targetComplete": .bool(false),
            "target": .string(target),
            "copiedBytes": .int(Int64(clamping: copied)),
            "totalBytes": .int(Int64(clamping: total)),
            "detail": .string(
                "The mirror was \(state) at the detach: the target \(target) holds \(copied) of \(total) bytes and is not a copy of the device."
            ),
        ]
    }

    public func status(text: String) throws(FilterStatusError) -> FilterStatus {
        let words = try StatusWords(text, filter: spec.name)
        let state = try words.string("state")
        guard Self.states.contains(state) else {
            throw FilterStatusError(filter: spec.name, reason: "state '\(state)' is not one mirror gives")
        }
        let error = try words.string("error")
        guard Self.errors.contains(error) else {
            throw FilterStatusError(filter: spec.name, reason: "error '\(error)' is not one mirror gives")
        }
        let copied = try words.uint64("copied_bytes")
        let total = try words.uint64("total_bytes")
        let rate = try words.uint64("bytes_per_second")
        var fields: [String: JSONValue] = [
            "state": .string(state),
            "target": .string(try words.string("target")),
            "copiedBytes": .int(Int64(clamping: copied)),
            "totalBytes": .int(Int64(clamping: total)),
            "regionSize": .int(Int64(clamping: try words.uint64("region_size"))),
            "regions": .int(Int64(clamping: try words.uint64("regions"))),
            "copiedRegions": .int(Int64(clamping: try words.uint64("copied_regions"))),
            "rateLimit": .int(Int64(clamping: try words.uint64("rate_limit"))),
            "writeWaits": .int(Int64(clamping: try words.uint64("write_waits"))),
            "error": error == "none" ? .null : .string(error),
        ]
        if state == "copying" {
            fields["bytesPerSecond"] = .int(Int64(clamping: rate))
            fields["secondsLeft"] = rate > 0 ? .int(Int64(clamping: (total - min(copied, total)) / rate)) : .null
        }
        for (key, word) in [
            ("startedAt", "started_at"), ("synchronizedAt", "synchronized_at"), ("cutoverAt", "cutover_at"),
            ("failedAt", "failed_at"),
        ] {
            fields[key] = try words.instant(word).map { .string(KernelTime.rfc3339(nanoseconds: $0)) } ?? .null
        }
        var metrics = Self.states.map { s in
            FilterMetric(
                name: "state", help: "The mirror's state: 1 for the current one.", kind: .gauge,
                labels: [FilterMetric.Label("state", s)], value: s == state ? 1 : 0)
        }
        metrics += [
            FilterMetric(
                name: "copied_bytes", help: "Bytes of the device the background copy has carried to the target.",
                kind: .gauge, value: Double(copied)),
            FilterMetric(
                name: "total_bytes", help: "Bytes of the device to copy.", kind: .gauge, value: Double(total)),
        ]
        return FilterStatus(fields: fields, metrics: metrics)
    }
}
