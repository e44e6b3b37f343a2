// EngineTestSupport: real loop and dm-linear devices and exact O_DIRECT IO for the Engine's VM tests.
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// These tests run only in the VM, as root, against the project's kernel modules: anywhere else
/// they fail (never skip) and say why.
enum EngineVM {
    static func requireRoot() throws {
        try #require(getuid() == 0, "the Engine's VM tests need root; run them through scripts/vm Tests/vm/20-engine")
        try #require(
            FileManager.default.fileExists(atPath: "/dev/mapper/control"),
            "no /dev/mapper/control: dm-mod is not loaded; run through scripts/vm Tests/vm/20-engine")
    }

    /// Runs a command, returns its stdout; a non-zero exit is an error carrying its stderr.
    @discardableResult
    static func run(_ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailure(
                description:
                    "\(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))"
            )
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct CommandFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Glibc hides O_DIRECT behind _GNU_SOURCE, so Swift does not import it.
    #if arch(arm64)
        static let oDirect: Int32 = 0o200000
    #else
        static let oDirect: Int32 = 0o40000
    #endif

    /// Writes `count` blocks of `blockSize` bytes with O_DIRECT, one pwrite each, so each is one bio.
    static func directWrites(to path: String, count: Int, blockSize: Int = 4096) throws {
        let fd = open(path, O_WRONLY | oDirect | O_CLOEXEC)
        guard fd >= 0 else { throw CommandFailure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: blockSize, alignment: 4096)
        defer { buffer.deallocate() }
        memset(buffer, 0x5a, blockSize)
        for index in 0..<count {
            let written = pwrite(fd, buffer, blockSize, off_t(index * blockSize))
            guard written == blockSize else {
                throw CommandFailure(description: "pwrite \(index) to \(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// A loop device over a sparse file in /tmp, detached and removed by `remove()`.
struct EngineLoopDevice {
    let path: String
    let file: String

    init(megabytes: Int = 16) throws {
        file = "/tmp/dmflt-engine-\(UUID().uuidString).img"
        try EngineVM.run("truncate", "-s", "\(megabytes)M", file)
        path = try EngineVM.run("losetup", "--find", "--show", file)
    }

    func remove() {
        _ = try? EngineVM.run("losetup", "-d", path)
        try? FileManager.default.removeItem(atPath: file)
    }
}

/// A dm-linear device spanning a whole loop device, made with dmsetup (without udev in the VM).
struct EngineLinearDevice {
    let name: String
    let loop: EngineLoopDevice

    init() throws {
        loop = try EngineLoopDevice()
        name = "dmflt-engine-\(UInt32.random(in: 0...UInt32.max))"
        let sectors = try EngineVM.run("blockdev", "--getsz", loop.path)
        try EngineVM.run("dmsetup", "create", "--noudevsync", name, "--table", "0 \(sectors) linear \(loop.path) 0")
    }

    func remove() {
        // --retry: udev workers briefly open new dm devices (blkid), which makes remove EBUSY.
        _ = try? EngineVM.run("dmsetup", "remove", "--noudevsync", "--retry", name)
        loop.remove()
    }
}
