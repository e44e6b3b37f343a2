// KernelHostProbe: the daemon's HostProbe, asking the running kernel through the Engine's HostCapability.
import Engine
import Synchronization

/// GET /v1/host is what pollers and health checks ask, and answering it from the kernel each time
/// cost more than the rest of the request: libdevmapper (a global lock, /proc/misc and an ioctl) for
/// the dm version, and a list-types IOCTL with its buffers for the filter types. The facts are kept
/// for up to a second, and read again at once after an attach or detach of this daemon (`changes`),
/// so an answer never misses what this daemon did; a filter type module loaded or a filter attached
/// by someone else shows within a second.
struct KernelHostProbe: HostProbe {
    let control: any FilterControl
    let changes: KernelChanges?
    private let memo = HostFactsMemo()

    init(control: any FilterControl, changes: KernelChanges? = nil) {
        self.control = control
        self.changes = changes
    }

    func probe() -> HostFacts {
        let generation = changes?.current ?? 0
        if let kept = memo.facts(generation: generation) { return kept }
        let c = HostCapability.probe(
            control: control, kernelRelease: HostCapability.currentKernelRelease(),
            dmVersion: HostCapability.currentDMVersion)
        let facts = HostFacts(
            kernelRelease: c.kernelRelease, dmVersion: c.dmVersion, filterIoctl: c.filterIoctl,
            filterTypes: c.filterTypes, reason: c.reason)
        memo.keep(facts, generation: generation)
        return facts
    }
}

/// The last facts read, with when and at which count of this daemon's kernel changes.
final class HostFactsMemo: Sendable {
    static let maxAge = Duration.seconds(1)
    private let last = Mutex<(at: ContinuousClock.Instant, generation: UInt64, facts: HostFacts)?>(nil)

    func facts(generation: UInt64, now: ContinuousClock.Instant = .now) -> HostFacts? {
        last.withLock { l in
            guard let l, l.generation == generation, now - l.at < Self.maxAge else { return nil }
            return l.facts
        }
    }

    /// `generation` is the count taken before the kernel was read: a change that landed meanwhile
    /// makes the next reader read again.
    func keep(_ facts: HostFacts, generation: UInt64, now: ContinuousClock.Instant = .now) {
        last.withLock { $0 = (now, generation, facts) }
    }
}
