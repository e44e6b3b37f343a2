// ControlDeviceTests: the control node is created from /proc/misc when missing, and odd nodes are refused with reasons.
import Foundation
import Testing

@testable import Engine

/// A temporary directory removed when the value goes away.
final class TempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "dmflt-engine-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct ControlDeviceTests {
    private func attachError(_ device: ControlDevice) -> FilterControlError? {
        do {
            try DMFilterControl(transport: device).attach(
                device: DeviceNumber(major: 7, minor: 0), filter: "stat", options: "")
            return nil
        } catch {
            return error
        }
    }

    @Test func missingNodeIsCreatedWithTheMiscMinorOfDeviceMapper() throws {
        let dir = try TempDir()
        try "237 loop-control\n236 device-mapper\n".write(toFile: dir.path + "/misc", atomically: true, encoding: .utf8)
        let node = dir.path + "/mapper/control"
        let error = attachError(ControlDevice(path: node, procMiscPath: dir.path + "/misc"))
        var info = stat()
        #expect(lstat(node, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFCHR)
        #expect(DeviceNumber(encoded: UInt64(info.st_rdev)) == DeviceNumber(major: 10, minor: 236))
        // This host's kernel may or may not have dm-mod; either way the call reports, never crashes.
        if let error {
            #expect(error.kind == .ioctlUnavailable || error.kind == .foreignReply || error.kind == .noSuchDevice)
            #expect(error.description.hasPrefix("cannot attach filter 'stat' to device 7:0: "))
        }
    }

    @Test func withoutDmModNothingIsCreated() throws {
        let dir = try TempDir()
        try "237 loop-control\n".write(toFile: dir.path + "/misc", atomically: true, encoding: .utf8)
        let error = try #require(
            attachError(ControlDevice(path: dir.path + "/mapper/control", procMiscPath: dir.path + "/misc")))
        #expect(error.kind == .ioctlUnavailable)
        #expect(error.errno == ENOENT)
        #expect(error.description.contains("dm-mod is not loaded"))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/mapper"))
    }

    @Test func aRegularFileIsNotTakenForTheControlDevice() throws {
        let dir = try TempDir()
        try "".write(toFile: dir.path + "/control", atomically: true, encoding: .utf8)
        let error = try #require(attachError(ControlDevice(path: dir.path + "/control", procMiscPath: "/nonexistent")))
        #expect(error.kind == .ioctlUnavailable)
        #expect(error.description.contains("is not a character device"))
    }

    @Test func miscMinorParsesProcMisc() throws {
        let dir = try TempDir()
        try " 58 network_throughput\n236 device-mapper\n".write(
            toFile: dir.path + "/misc", atomically: true, encoding: .utf8)
        #expect(ControlDevice.miscMinor(named: "device-mapper", procMisc: dir.path + "/misc") == 236)
        #expect(ControlDevice.miscMinor(named: "network_throughput", procMisc: dir.path + "/misc") == 58)
        #expect(ControlDevice.miscMinor(named: "device", procMisc: dir.path + "/misc") == nil)
    }
}
