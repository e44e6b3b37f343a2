// KernelHostProbe: the daemon's HostProbe, asking the running kernel through the Engine's HostCapability.
import Engine

struct KernelHostProbe: HostProbe {
    let control: any FilterControl

    func probe() -> HostFacts {
        let c = HostCapability.probe(control: control)
        return HostFacts(
            kernelRelease: c.kernelRelease, dmVersion: c.dmVersion, filterIoctl: c.filterIoctl,
            filterTypes: c.filterTypes,
            reason: c.reason)
    }
}
