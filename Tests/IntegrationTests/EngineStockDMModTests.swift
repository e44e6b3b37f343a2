// EngineStockDMModTests: on Debian's stock dm-mod the Engine reports the missing filter IOCTL (ENOTTY) as a capability gap.
import Engine
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Run by Tests/vm/20-engine after it swapped the project's dm-mod for Debian's stock module.
@Suite(.serialized) struct EngineStockDMModTests {
    @Test func stockDmModLacksTheFilterIoctlAndSaysSo() throws {
        try EngineVM.requireRoot()
        try #require(
            ProcessInfo.processInfo.environment["DMFLT_ENGINE_STOCK_DM_MOD"] == "1",
            "this test needs Debian's stock dm-mod loaded; Tests/vm/20-engine loads it and sets DMFLT_ENGINE_STOCK_DM_MOD=1"
        )
        let control = DMFilterControl()
        let capability = HostCapability.probe(control: control)
        #expect(!capability.filterIoctl)
        #expect(capability.failure == .ioctlUnavailable)
        #expect(capability.filterTypes.isEmpty)
        let dmVersion = try #require(capability.dmVersion, "libdevmapper reports no dm version")
        #expect(
            capability.reason?.contains("this kernel's dm-mod has no filter IOCTL (dm \(dmVersion))") == true,
            "\(capability.reason ?? "")")

        do {
            try control.attach(device: DeviceNumber(major: 7, minor: 0), filter: "stat", options: "")
            Issue.record("attach succeeded on stock dm-mod")
        } catch {
            #expect(error.kind == .ioctlUnavailable)
            #expect(error.errno == ENOTTY)
            #expect(error.operation == "attach")
        }
    }
}
