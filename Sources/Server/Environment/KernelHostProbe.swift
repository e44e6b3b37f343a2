// KernelHostProbe: the daemon's HostProbe, asking the running kernel through the Engine's HostCapability.
import Engine
import Synchronization

struct KernelHostProbe: HostProbe {
    let control: any FilterControl
    /// The kernel release never changes under a running daemon and the dm version only when dm-mod is
    /// reloaded; asking libdevmapper (one global lock, /proc/misc and an ioctl) on every GET /v1/host cost
    /// a fifth of the request, so they are reread at most once a second. The filter types are read live.
    private let identity = IdentityMemo()

    func probe() -> HostFacts {
        let (release, dmVersion) = identity.current()
        let c = HostCapability.probe(control: control, kernelRelease: release, dmVersion: { dmVersion })
        return HostFacts(
            kernelRelease: c.kernelRelease, dmVersion: c.dmVersion, filterIoctl: c.filterIoctl,
            filterTypes: c.filterTypes,
            reason: c.reason)
    }
}

/// The kernel release and dm version, reread when older than a second.
final class IdentityMemo: Sendable {
    static let maxAge = Duration.seconds(1)
    private let last = Mutex<(at: ContinuousClock.Instant, release: String, dmVersion: String?)?>(nil)

    func current() -> (String, String?) {
        let now = ContinuousClock.now
        if let l = last.withLock({ $0 }), now - l.at < Self.maxAge { return (l.release, l.dmVersion) }
        let fresh = (HostCapability.currentKernelRelease(), HostCapability.currentDMVersion())
        last.withLock { $0 = (now, fresh.0, fresh.1) }
        return fresh
    }
}
