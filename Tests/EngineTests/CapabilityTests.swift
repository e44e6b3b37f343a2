// CapabilityTests: the host probe reports a working filter IOCTL with its types, or exactly why it is missing.
import CDMFilter
import Foundation
import Testing

@testable import Engine

@Suite struct CapabilityTests {
    @Test func workingIoctlListsTheLoadedTypes() {
        let kernel = FakeKernel { request, buffer in
            KernelReply.write(
                buffer, op: request.message.op, count: 1,
                payload: KernelReply.typeInfo("stat", (1, 0, 0), attachments: 2))
            return 0
        }
        let capability = HostCapability.probe(
            control: DMFilterControl(transport: kernel), kernelRelease: "6.1.0-56-amd64", dmVersion: { "4.47.0" })
        #expect(capability.filterIoctl)
        #expect(capability.reason == nil && capability.failure == nil)
        #expect(capability.filterTypes == [KernelFilterType(name: "stat", version: [1, 0, 0], attachments: 2)])
        #expect(capability.dmVersion == "4.47.0")
        #expect(kernel.requests.map(\.message.op) == [DM_FILTER_OP_LIST_TYPES.rawValue])
    }

    @Test func stockDmModIsReportedAsMissingTheCommand() throws {
        let kernel = FakeKernel { _, buffer in
            KernelReply.setDriverVersion(buffer, (4, 47, 0))
            return ENOTTY
        }
        let capability = HostCapability.probe(
            control: DMFilterControl(transport: kernel), kernelRelease: "6.1.0-56-amd64", dmVersion: { "4.47.0" })
        #expect(!capability.filterIoctl)
        #expect(capability.failure == .ioctlUnavailable)
        #expect(capability.filterTypes.isEmpty)
        let reason = try #require(capability.reason)
        #expect(reason.contains("this kernel's dm-mod has no filter IOCTL (dm 4.47.0)"))
    }

    @Test func missingDmModIsReportedWithoutTouchingTheKernel() throws {
        let dir = try TempDir()
        try "237 loop-control\n".write(toFile: dir.path + "/misc", atomically: true, encoding: .utf8)
        let control = DMFilterControl(
            transport: ControlDevice(path: dir.path + "/mapper/control", procMiscPath: dir.path + "/misc"))
        let capability = HostCapability.probe(control: control, dmVersion: { nil })
        #expect(!capability.filterIoctl)
        #expect(capability.failure == .ioctlUnavailable)
        #expect(capability.reason?.contains("dm-mod is not loaded") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/mapper/control"))
        #expect(capability.kernelRelease == HostCapability.currentKernelRelease())
        #expect(!capability.kernelRelease.isEmpty)
    }

    @Test func capabilityEncodesAsJSONWithItsReason() throws {
        let capability = HostCapability(
            kernelRelease: "6.1", dmVersion: nil, filterIoctl: false, filterTypes: [], reason: "why",
            failure: .ioctlUnavailable)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(capability)) as! [String: Any]
        #expect(object["reason"] as? String == "why")
        #expect(object["failure"] as? String == "ioctlUnavailable")
        #expect(object["filterIoctl"] as? Bool == false)
    }
}
