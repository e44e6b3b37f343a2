// ResolutionTests: what a user types resolves to exactly one block device, and hostile strings get precise errors.
import Foundation
import Testing

@testable import Engine

@Suite struct ResolutionTests {
    @Test(arguments: [
        ("/dev/loop0", "loop0"), ("loop0", "loop0"), ("7:0", "loop0"), ("/dev/mapper/vg-lv", "dm-0"),
        ("vg-lv", "dm-0"), ("dm-0", "dm-0"), ("/dev/dm-0", "dm-0"), ("/dev/disk/by-id/good", "loop0"),
        ("/dev/disk/by-id/absolute", "loop0"), ("253:1", "dm-1"), ("/dev//loop0", "loop0"),
        ("/dev/mapper/loop1", "dm-1"),
    ])
    func resolvesWhatUsersType(input: String, expected: String) throws {
        let host = try FakeHost()
        #expect(try host.inventory.resolve(input).name == expected)
    }

    @Test(arguments: [
        ("/etc/passwd", DeviceResolutionError.outsideDev("/etc/passwd")),
        ("/dev/../etc/passwd", .pathTraversal("/dev/../etc/passwd")),
        ("/dev/./loop0", .pathTraversal("/dev/./loop0")),
        ("/proc/self/root/dev/loop0", .outsideDev("/proc/self/root/dev/loop0")),
        ("/dev/null", .notABlockDevice(path: "/dev/null", what: "a character device")),
        ("/dev/shm", .notABlockDevice(path: "/dev/shm", what: "a directory")),
        ("/dev", .notABlockDevice(path: "/dev", what: "a directory")),
        ("/dev/", .notABlockDevice(path: "/dev/", what: "a directory")),
        ("/dev/regular", .notABlockDevice(path: "/dev/regular", what: "a regular file")),
        ("/dev/regular/x", .noSuchPath("/dev/regular/x")),
        ("/dev/disk/by-id/evil", .symlinkLeavesDev(path: "/dev/disk/by-id/evil", target: "/etc/passwd")),
        ("/dev/disk/by-id/evil2", .symlinkLeavesDev(path: "/dev/disk/by-id/evil2", target: "../../../etc/passwd")),
        ("/dev/a", .tooManySymlinks("/dev/a")),
        ("/dev/nosuch", .noSuchPath("/dev/nosuch")),
        ("/dev/mapper/control", .noSuchPath("/dev/mapper/control")),
        ("/dev/orphan", .noSuchDevice("/dev/orphan")),
        ("dev/loop0", .relativePath("dev/loop0")),
        ("../loop0", .relativePath("../loop0")),
        ("..", .noSuchDevice("..")),
        ("", .empty),
        ("loop0\n", .controlCharacters("loop0\n")),
        (" loop0", .controlCharacters(" loop0")),
        ("loop0\0", .controlCharacters("loop0\0")),
        ("7:99", .noSuchDevice("7:99")),
        ("7:0:0", .noSuchDevice("7:0:0")),
        ("nosuch", .noSuchDevice("nosuch")),
        ("loop1", .ambiguous(input: "loop1", candidates: ["/dev/loop1 (7:1)", "/dev/dm-1 (dm name, 253:1)"])),
    ])
    func refusesPrecisely(input: String, expected: DeviceResolutionError) throws {
        let host = try FakeHost()
        #expect(throws: expected) { try host.inventory.resolve(input) }
    }

    @Test func overlongInputIsRefusedBeforeAnyLookup() throws {
        let host = try FakeHost()
        let input = "/dev/" + String(repeating: "a/", count: 3000)
        #expect(throws: DeviceResolutionError.tooLong(length: input.utf8.count)) { try host.inventory.resolve(input) }
    }

    @Test func realDevNullIsNotABlockDevice() {
        #expect(throws: DeviceResolutionError.notABlockDevice(path: "/dev/null", what: "a character device")) {
            try DeviceInventory().resolve("/dev/null")
        }
        #expect(throws: DeviceResolutionError.pathTraversal("/dev/../etc/passwd")) {
            try DeviceInventory().resolve("/dev/../etc/passwd")
        }
    }

    @Test func errorSentencesSayWhatIsWrong() {
        #expect(
            DeviceResolutionError.notABlockDevice(path: "/dev/null", what: "a character device").description
                == "'/dev/null' is a character device, not a block device")
        #expect(
            DeviceResolutionError.outsideDev("/etc/passwd").description
                == "'/etc/passwd' is not under /dev; dmflt only resolves device paths under /dev")
        #expect(DeviceResolutionError.pathTraversal("/dev/../x").description.contains("'..'"))
    }
}
