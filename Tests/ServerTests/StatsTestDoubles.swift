// StatsTestDoubles: an in-memory kernel and attachment directory for the statistics unit tests (tests only).
import Engine
import Foundation
import Synchronization

@testable import dmfltd

/// Counts every STATUS so tests can check how many samplings the watchers caused.
final class StatsFakeControl: FilterControl {
    private struct State {
        var counters: [DeviceNumber: BioCounters] = [:]
        var attachedAt: [DeviceNumber: Date] = [:]
        var statusCalls = 0
        var unavailable = false
        /// A status line other than stat's, for attachments of other types.
        var texts: [DeviceNumber: String] = [:]
    }
    private let state = Mutex(State())

    var statusCalls: Int { state.withLock { $0.statusCalls } }
    var unavailable: Bool {
        get { state.withLock { $0.unavailable } }
        set { state.withLock { $0.unavailable = newValue } }
    }

    func attachStat(_ dev: DeviceNumber, at date: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        state.withLock {
            $0.counters[dev] = BioCounters()
            $0.attachedAt[dev] = date
        }
    }

    func detachStat(_ dev: DeviceNumber) {
        state.withLock {
            $0.counters[dev] = nil
            $0.attachedAt[dev] = nil
        }
    }

    func setStatusText(_ dev: DeviceNumber, _ text: String) { state.withLock { $0.texts[dev] = text } }

    func update(_ dev: DeviceNumber, _ change: (inout BioCounters) -> Void) {
        state.withLock { s in
            var c = s.counters[dev] ?? BioCounters()
            change(&c)
            s.counters[dev] = c
        }
    }

    private func fail(_ op: String, _ kind: FilterControlError.Kind, _ dev: DeviceNumber? = nil) -> FilterControlError {
        FilterControlError(kind: kind, operation: op, device: dev, errno: 6, description: "\(op): \(kind.rawValue)")
    }

    func listTypes() throws(FilterControlError) -> [KernelFilterType] {
        [KernelFilterType(name: "stat", version: [1, 0, 0], attachments: 0)]
    }
    func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError) { attachStat(device) }
    func detach(device: DeviceNumber, filter: String) throws(FilterControlError) { detachStat(device) }

    func listAttachments() throws(FilterControlError) -> [KernelAttachment] {
        let s = state.withLock { $0 }
        if s.unavailable { throw fail("list", .ioctlUnavailable) }
        return s.attachedAt.map { KernelAttachment(device: $0.key, filter: "stat", attachedAt: $0.value) }
    }

    func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus {
        let s = state.withLock { s -> State in
            s.statusCalls += 1
            return s
        }
        if s.unavailable { throw fail("status", .ioctlUnavailable, device) }
        guard let c = s.counters[device], let at = s.attachedAt[device] else {
            throw fail("status", .notAttached, device)
        }
        return KernelAttachmentStatus(
            attachment: KernelAttachment(device: device, filter: filter, attachedAt: at),
            text: s.texts[device] ?? KernelStatusText.stat(c))
    }

    func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String { "" }

    func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> KernelQueryReply {
        throw fail("query", .invalid, device)
    }
}

final class StatsFakeDirectory: AttachmentDirectory {
    private let targets = Mutex<[String: StatsTarget]>([:])

    func put(_ t: StatsTarget) { targets.withLock { $0[t.id] = t } }
    func remove(_ id: String) { targets.withLock { $0[id] = nil } }

    func attachment(id: String) async -> StatsTarget? { targets.withLock { $0[id] } }
    func all() async -> [StatsTarget] { targets.withLock { $0.values.sorted { $0.id < $1.id } } }
}

/// A fixed dm-stats reading, for the latency parts of the snapshot and the exposition.
final class StatsFakeLatency: LatencySource {
    let reading = Mutex<LatencyReading?>(nil)
    func read(_ target: StatsTarget) -> LatencyReading { reading.withLock { $0 } ?? .unavailable("none") }
    func release(attachment id: String) {}
}

enum StatsFixtures {
    static func loop(_ n: UInt32) -> DeviceNumber { DeviceNumber(major: 7, minor: n) }

    static func target(
        _ id: String, dev: DeviceNumber, phase: String = "attached", latency: Bool = false, filter: String = "stat"
    ) -> StatsTarget {
        StatsTarget(
            id: id, host: "testhost",
            device: .init(
                path: "/dev/loop\(dev.minor)", dev: dev, name: "loop\(dev.minor)", dmName: latency ? "vg-lv" : nil),
            filter: filter, phase: phase, options: latency ? ["latency": .bool(true)] : [:])
    }

    /// A service over fakes with one attached `stat` on loop0 named "a1".
    static func service(capacity: Int = 16) -> (StatsService, StatsFakeControl, StatsFakeDirectory) {
        let control = StatsFakeControl()
        let directory = StatsFakeDirectory()
        control.attachStat(loop(0))
        directory.put(target("a1", dev: loop(0)))
        let service = StatsService(
            control: control, directory: directory, hostName: "testhost", latency: StatsFakeLatency(),
            watcherCapacity: capacity)
        return (service, control, directory)
    }

    /// Pulls chunks until `predicate` holds on the text so far (or the stream ends).
    static func collect(_ stream: StatsWatcher, until predicate: (String) -> Bool) async -> String {
        var text = ""
        while !predicate(text), let chunk = await stream.next() { text += String(decoding: chunk, as: UTF8.self) }
        return text
    }

    static func json(_ line: some StringProtocol) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }
}
