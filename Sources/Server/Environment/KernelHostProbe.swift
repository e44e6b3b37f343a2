// KernelHostProbe: the daemon's HostProbe, asking the running kernel through the Engine's HostCapability.
import Engine

/// GET /v1/host is what pollers and health checks ask; reading its facts each time (libdevmapper's
/// version under its global lock, /proc/misc, a list-types IOCTL with its buffers) cost more than the
/// rest of the request. They are kept as KernelReadMemo keeps them: what this daemon attached or
/// detached shows at once, a filter type module loaded or a filter attached by someone else within a
/// second.
struct KernelHostProbe: HostProbe {
    let control: any FilterControl
    /// Without the daemon's count (a probe of its own), the facts are kept for a second only.
    let changes: KernelChanges
    private let memo = KernelReadMemo<HostFacts>()

    init(control: any FilterControl, changes: KernelChanges? = nil) {
        self.control = control
        self.changes = changes ?? KernelChanges()
    }

    func probe() -> HostFacts {
        memo.value(changes: changes) {
            let c = HostCapability.probe(control: control)
            return HostFacts(
                kernelRelease: c.kernelRelease, dmVersion: c.dmVersion, filterIoctl: c.filterIoctl,
                filterTypes: c.filterTypes, reason: c.reason)
        }
    }
}
