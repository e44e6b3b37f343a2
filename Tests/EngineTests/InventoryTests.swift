// InventoryTests: block devices are read from a sysfs tree with their kind, size, names, holders and attachments.
import Foundation
import Testing

@testable import Engine

@Suite struct InventoryTests {
    @Test func everyDeviceIsListedWithItsKindAndAttributes() throws {
        let host = try FakeHost()
        let devices = try host.inventory.list()
        #expect(
            devices.map(\.name) == [
                "ram0", "loop0", "loop1", "sda", "sda1", "md0", "cciss!c0d0", "nullb0", "dm-0", "dm-1",
            ])
        let byName = Dictionary(uniqueKeysWithValues: devices.map { ($0.name, $0) })
        #expect(
            byName["loop0"]
                == BlockDevice(
                    name: "loop0", path: "/dev/loop0", dev: DeviceNumber(major: 7, minor: 0), sizeBytes: 104_857_600,
                    kind: .loop, readOnly: false, holders: ["dm-1"], loopBackingFile: "/var/tmp/disk.img"))
        #expect(
            byName["dm-0"]
                == BlockDevice(
                    name: "dm-0", path: "/dev/dm-0", dev: DeviceNumber(major: 253, minor: 0), sizeBytes: 1_072_693_248,
                    kind: .dm, readOnly: true, dmName: "vg-lv", dmUUID: "LVM-abc"))
        #expect(byName["dm-1"]?.dmUUID == nil)  // an empty uuid is no uuid
        #expect(byName["sda"]?.kind == .disk)
        #expect(byName["sda"]?.sizeBytes == 1_073_741_824)
        #expect(byName["sda1"]?.kind == .partition)
        #expect(byName["sda1"]?.holders == ["dm-0"])
        #expect(byName["loop1"]?.kind == .loop)
        #expect(byName["loop1"]?.loopBackingFile == nil)
        #expect(byName["nullb0"]?.kind == .null_blk)
        #expect(byName["md0"]?.kind == .md)
        #expect(byName["ram0"]?.kind == .other)
        #expect(byName["cciss!c0d0"]?.path == "/dev/cciss/c0d0")
    }

    @Test func attachmentsAreFilledFromTheKernelList() throws {
        let host = try FakeHost()
        let devices = try host.inventory.list(attachments: [
            KernelAttachment(device: DeviceNumber(major: 7, minor: 0), filter: "stat", attachedAt: Date()),
            KernelAttachment(device: DeviceNumber(major: 7, minor: 0), filter: "guard", attachedAt: Date()),
            KernelAttachment(device: DeviceNumber(major: 253, minor: 0), filter: "stat", attachedAt: Date()),
        ])
        let byName = Dictionary(uniqueKeysWithValues: devices.map { ($0.name, $0.attachments) })
        #expect(byName["loop0"] == ["guard", "stat"])
        #expect(byName["dm-0"] == ["stat"])
        #expect(byName["sda"] == [])
    }

    @Test func deviceByNumber() throws {
        let host = try FakeHost()
        #expect(host.inventory.device(DeviceNumber(major: 253, minor: 1))?.dmName == "loop1")
        #expect(host.inventory.device(DeviceNumber(major: 7, minor: 9)) == nil)
    }

    /// The cheap name index agrees with the full read on every device's name and path.
    @Test func namesAgreeWithTheFullInventory() throws {
        let host = try FakeHost()
        let full = try host.inventory.list()
        let names = host.inventory.names()
        #expect(names.count == full.count)
        for d in full {
            #expect(names[d.dev] == d.name)
            #expect(DeviceInventory.path(ofKernelName: d.name) == d.path)
        }
    }

    /// /proc/diskstats gives the same index in one read: empty disks included, '/' spelled '!'.
    @Test func namesFromDiskstatsMatchTheLinks() throws {
        let host = try FakeHost()
        let full = try host.inventory.list()
        var text = ""
        for d in full {
            let name = d.name.replacingOccurrences(of: "!", with: "/")
            text += "\(String(repeating: " ", count: 4 - min(3, "\(d.dev.major)".count)))\(d.dev.major) "
            text += "\(String(repeating: " ", count: 7 - min(6, "\(d.dev.minor)".count)))\(d.dev.minor) \(name)"
            text += " 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        }
        let path = host.dir.path + "/diskstats"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let fromStats = DeviceInventory(sysfsRoot: host.sysfs, devRoot: host.dev, diskstatsPath: path).names()
        #expect(fromStats == host.inventory.linkedNames())
        #expect(fromStats[DeviceNumber(major: 104, minor: 0)] == "cciss!c0d0")
        #expect(fromStats[DeviceNumber(major: 7, minor: 1)] == "loop1")  // zero sectors, still there
        // Unreadable: the links answer.
        let missing = DeviceInventory(sysfsRoot: host.sysfs, devRoot: host.dev, diskstatsPath: path + ".none")
        #expect(missing.names() == host.inventory.linkedNames())
    }

    /// A host with thousands of devices: the file is larger than the first read, and odd lines are skipped.
    @Test func largeDiskstatsIsReadWholeAndOddLinesAreSkipped() throws {
        let host = try FakeHost()
        var text = "garbage line\n  x  y z\n 99999999999 1 overflow\n"
        for minor in 0..<3000 {
            text +=
                "   7 \(String(repeating: " ", count: 7 - "\(minor)".count))\(minor) loop\(minor) 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n"
        }
        text += " 104 0 cciss/c0d0 0 0"  // no trailing newline
        #expect(text.utf8.count > 64 * 1024)
        let path = host.dir.path + "/diskstats-large"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let names = DeviceInventory(sysfsRoot: host.sysfs, devRoot: host.dev, diskstatsPath: path).names()
        #expect(names.count == 3001)
        #expect(names[DeviceNumber(major: 7, minor: 2999)] == "loop2999")
        #expect(names[DeviceNumber(major: 104, minor: 0)] == "cciss!c0d0")
    }

    @Test func vanishedOrHalfWrittenEntriesAreLeftOut() throws {
        let host = try FakeHost()
        try FileManager.default.createDirectory(
            atPath: host.sysfs + "/class/block/loop7", withIntermediateDirectories: true)  // no dev, no size
        #expect(try !host.inventory.list().contains { $0.name == "loop7" })
    }

    @Test func missingSysfsIsAnErrorNotAnEmptyList() {
        #expect(throws: DeviceInventory.ReadError.self) {
            try DeviceInventory(sysfsRoot: "/nonexistent-sysfs", devRoot: "/dev").list()
        }
    }

    @Test func encodesKindAsItsName() throws {
        let host = try FakeHost()
        let nullb = try #require(try host.inventory.list().first { $0.name == "nullb0" })
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(nullb)) as! [String: Any]
        #expect(object["kind"] as? String == "null_blk")
        #expect(object["dev"] as? String == "251:0")
    }
}
