// HostCapability: what this host's kernel can do for dmflt — and, when it cannot, exactly why.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct HostCapability: Sendable, Codable, Equatable {
    /// `uname -r`.
    public var kernelRelease: String
    /// The dm driver's interface version ("4.47.0"), nil when dm-mod is not loaded.
    public var dmVersion: String?
    /// Whether the dm filter IOCTL answered (probed with the list-types operation).
    public var filterIoctl: Bool
    /// The filter types the kernel has registered, with their versions.
    public var filterTypes: [KernelFilterType]
    /// Why the filter IOCTL is unavailable (no /dev/mapper/control, no dm-mod, stock dm-mod
    /// without the command, permissions); nil when it works.
    public var reason: String?
    /// The kind of the probe's failure, nil when it works.
    public var failure: FilterControlError.Kind?

    public init(
        kernelRelease: String, dmVersion: String?, filterIoctl: Bool, filterTypes: [KernelFilterType],
        reason: String?, failure: FilterControlError.Kind? = nil
    ) {
        self.kernelRelease = kernelRelease
        self.dmVersion = dmVersion
        self.filterIoctl = filterIoctl
        self.filterTypes = filterTypes
        self.reason = reason
        self.failure = failure
    }

    /// Probes `control` with the list-types operation. `dmVersion` defaults to asking libdevmapper;
    /// tests pass their own values for everything that is not the control.
    public static func probe(
        control: any FilterControl, kernelRelease: String = HostCapability.currentKernelRelease(),
        dmVersion: () -> String? = HostCapability.currentDMVersion
    ) -> HostCapability {
        let version = dmVersion()
        do {
            let types = try control.listTypes()
            return HostCapability(
                kernelRelease: kernelRelease, dmVersion: version, filterIoctl: true,
                filterTypes: types.sorted { $0.name < $1.name }, reason: nil)
        } catch {
            return HostCapability(
                kernelRelease: kernelRelease, dmVersion: version, filterIoctl: false, filterTypes: [],
                reason: error.description, failure: error.kind)
        }
    }

    /// The dm driver version libdevmapper reports, nil when dm-mod is not loaded.
    public static func currentDMVersion() -> String? { LibDeviceMapper.driverVersion() }

    /// The running kernel's release, as `uname -r` prints it.
    public static func currentKernelRelease() -> String {
        var names = utsname()
        guard uname(&names) == 0 else { return "unknown" }
        return withUnsafeBytes(of: names.release) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

extension FilterControlError.Kind: Codable {}
