// HostProbe: what this host's kernel can do, for GET /v1/host (the Engine's HostCapability in the daemon).
import Engine

struct HostFacts: Sendable, Equatable {
    var kernelRelease: String
    var dmVersion: String?
    var filterIoctl: Bool
    var filterTypes: [KernelFilterType]
    /// Why the filter IOCTL is unavailable, nil when it works.
    var reason: String?
}

protocol HostProbe: Sendable {
    func probe() -> HostFacts
}
