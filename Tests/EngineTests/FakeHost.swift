// FakeHost: a sysfs tree and a /dev directory built in a temp dir, shaped like the kernel's, for inventory tests.
import Foundation

@testable import Engine

/// Eight kinds of block device, plus /dev entries that are not block devices or lead out of /dev.
final class FakeHost {
    let dir: TempDir
    var sysfs: String { dir.path + "/sys" }
    var dev: String { dir.path + "/dev" }
    var inventory: DeviceInventory { DeviceInventory(sysfsRoot: sysfs, devRoot: dev) }

    init() throws {
        dir = try TempDir()
        try device("sda", "8:0", sectors: 2_097_152, extra: ["device/vendor": "ATA"])
        try device("sda1", "8:1", sectors: 2_095_104, extra: ["partition": "1"], holders: ["dm-0"])
        try device(
            "loop0", "7:0", sectors: 204_800, extra: ["loop/backing_file": "/var/tmp/disk.img"], holders: ["dm-1"])
        try device("loop1", "7:1", sectors: 0)
        try device(
            "dm-0", "253:0", sectors: 2_095_104, readOnly: true, extra: ["dm/name": "vg-lv", "dm/uuid": "LVM-abc"])
        // A dm device whose name is another device's kernel name: "loop1" is ambiguous.
        try device("dm-1", "253:1", sectors: 1024, extra: ["dm/name": "loop1", "dm/uuid": ""])
        try device("nullb0", "251:0", sectors: 524_288)
        try device("md0", "9:0", sectors: 4096, extra: ["md/level": "raid1"])
        try device("ram0", "1:0", sectors: 8192)
        try device("cciss!c0d0", "104:0", sectors: 100, extra: ["device/model": "x"])

        let fm = FileManager.default
        try fm.createDirectory(atPath: dev + "/mapper", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dev + "/disk/by-id", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dev + "/shm", withIntermediateDirectories: true)
        try node("loop0", block: true, 7, 0)
        try node("dm-0", block: true, 253, 0)
        try node("null", block: false, 1, 3)
        try node("orphan", block: true, 99, 9)  // a node without a sysfs entry
        try fm.createSymbolicLink(atPath: dev + "/mapper/vg-lv", withDestinationPath: "../dm-0")
        try fm.createSymbolicLink(atPath: dev + "/disk/by-id/good", withDestinationPath: "../../loop0")
        try fm.createSymbolicLink(atPath: dev + "/disk/by-id/absolute", withDestinationPath: "/dev/loop0")
        try fm.createSymbolicLink(atPath: dev + "/disk/by-id/evil", withDestinationPath: "/etc/passwd")
        try fm.createSymbolicLink(atPath: dev + "/disk/by-id/evil2", withDestinationPath: "../../../etc/passwd")
        try fm.createSymbolicLink(atPath: dev + "/a", withDestinationPath: "b")
        try fm.createSymbolicLink(atPath: dev + "/b", withDestinationPath: "a")
        try "x".write(toFile: dev + "/regular", atomically: true, encoding: .utf8)
    }

    private func device(
        _ name: String, _ number: String, sectors: UInt64, readOnly: Bool = false, extra: [String: String] = [:],
        holders: [String] = []
    ) throws {
        let fm = FileManager.default
        let path = "\(sysfs)/class/block/\(name)"
        try fm.createDirectory(atPath: path + "/holders", withIntermediateDirectories: true)
        let files = ["dev": number, "size": String(sectors), "ro": readOnly ? "1" : "0"].merging(extra) { $1 }
        for (file, content) in files {
            try fm.createDirectory(
                atPath: (path + "/" + file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (content + "\n").write(toFile: path + "/" + file, atomically: true, encoding: .utf8)
        }
        for holder in holders {
            try fm.createDirectory(atPath: path + "/holders/" + holder, withIntermediateDirectories: true)
        }
        try fm.createDirectory(atPath: sysfs + "/dev/block", withIntermediateDirectories: true)
        try fm.createSymbolicLink(
            atPath: "\(sysfs)/dev/block/\(number)", withDestinationPath: "../../class/block/\(name)")
    }

    private func node(_ name: String, block: Bool, _ major: UInt32, _ minor: UInt32) throws {
        let mode = (block ? S_IFBLK : S_IFCHR) | 0o600
        guard mknod(dev + "/" + name, mode, dev_t(DeviceNumber(major: major, minor: minor).encoded)) == 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: dev + "/" + name])
        }
    }
}
