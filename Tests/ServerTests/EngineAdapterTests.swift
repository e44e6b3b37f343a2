// EngineAdapterTests: the daemon's views of the Engine's catalog and inventory keep the API's promises.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct EngineAdapterTests {
    let catalog = EngineFilterCatalog(catalog: .standard)

    @Test func statValidatesAndUnknownFiltersAndOptionsAreTold() throws {
        let stat = try catalog.validate(filter: "stat", options: [:])
        #expect(stat.filter == "stat")
        #expect(throws: FilterSpecRejection.unknownFilter("nosuch")) {
            try catalog.validate(filter: "nosuch", options: [:])
        }
        do {
            _ = try catalog.validate(filter: "stat", options: ["colour": .string("red")])
            Issue.record("an unknown option was accepted")
        } catch {
            guard case .invalidOption(let why) = error else {
                Issue.record("wrong rejection \(error)")
                return
            }
            #expect(why.contains("colour"))
        }
    }

    @Test func theCatalogListingSaysWhatTheKernelLoaded() {
        let entries = catalog.entries(kernelTypes: [KernelFilterType(name: "stat", version: [1, 2, 3], attachments: 0)])
        let stat = entries.first { $0.name == "stat" }
        #expect(stat?.loaded == true)
        #expect(stat?.version == "1.2.3")
        #expect(catalog.entries(kernelTypes: []).first { $0.name == "stat" }?.loaded == false)
    }

    @Test func onlyANumberMayNameADeviceThatIsNotThere() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-inv-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root + "/sys/block", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/dev", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let directory = InventoryDeviceDirectory(
            inventory: DeviceInventory(sysfsRoot: root + "/sys", devRoot: root + "/dev"))
        #expect(directory.lookup("7:5") == .absent(DeviceNumber(major: 7, minor: 5)))
        guard case .invalid(let why) = directory.lookup("/dev/loop5") else {
            Issue.record("a missing path was accepted")
            return
        }
        #expect(why.contains("/dev/loop5"))
        guard case .invalid = directory.lookup("/etc/passwd") else {
            Issue.record("a file outside /dev was accepted")
            return
        }
        guard case .invalid = directory.lookup("loop5") else {
            Issue.record("a missing name was accepted")
            return
        }
    }
}
