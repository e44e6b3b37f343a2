// LinuxStoreHost: StoreHost on Linux: stat, sysfs for partitions, sparse files, and loop devices set up with LOOP_CONFIGURE.
import Engine
import Foundation

struct LinuxStoreHost: StoreHost {
    func kind(of path: String) -> StorePathKind {
        var st = stat()
        if stat(path, &st) != 0 {
            guard errno == ENOENT else { return .other(String(cString: strerror(errno))) }
            var parent = stat()
            let directory = (path as NSString).deletingLastPathComponent
            guard stat(directory, &parent) == 0, parent.st_mode & S_IFMT == S_IFDIR else {
                return .absent(parentDevice: nil)
            }
            return .absent(parentDevice: DeviceNumber(encoded: UInt64(parent.st_dev)))
        }
        switch st.st_mode & S_IFMT {
        case S_IFBLK:
            return .blockDevice(DeviceNumber(encoded: UInt64(st.st_rdev)))
        case S_IFREG:
            return .regularFile(
                size: UInt64(st.st_size), allocated: UInt64(st.st_blocks) * 512,
                device: DeviceNumber(encoded: UInt64(st.st_dev)))
        case S_IFDIR:
            return .other("a directory")
        default:
            return .other("neither a regular file nor a block device")
        }
    }

    func wholeDisk(of dev: DeviceNumber) -> DeviceNumber {
        let sys = "/sys/dev/block/\(dev.major):\(dev.minor)"
        guard FileManager.default.fileExists(atPath: sys + "/partition"),
            let text = try? String(contentsOfFile: sys + "/../dev", encoding: .utf8),
            let parent = DeviceNumber(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return dev }
        return parent
    }

    func createFile(_ path: String, size: UInt64) throws(StoreHostError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("cannot create \(path)") }
        defer { _ = Glibc.close(fd) }
        guard ftruncate(fd, off_t(size)) == 0 else {
            let error = Self.failure("cannot size \(path) to \(size) bytes")
            unlink(path)
            throw error
        }
    }

    func removeFile(_ path: String) {
        unlink(path)
    }

    /// O_DIRECT on x86_64 and arm64's generic value differ; Glibc's Swift overlay has neither.
    #if arch(arm64)
        private static let oDirect: Int32 = 0o200000
    #else
        private static let oDirect: Int32 = 0o40000
    #endif
    // linux/loop.h
    private static let loopCtlGetFree: UInt = 0x4C82
    private static let loopConfigure: UInt = 0x4C0A
    private static let autoclear: UInt32 = 4
    private static let directIO: UInt32 = 16
    /// sizeof(struct loop_config): fd, block_size, struct loop_info64 (232 bytes), 8 reserved u64.
    private static let configSize = 304
    private static let flagsOffset = 8 + 52

    func attachLoop(file path: String) throws(StoreHostError) -> LoopHandle {
        // Direct IO keeps the copies out of the page cache, where the file system allows it; where
        // it does not (tmpfs, an overlay on it), a loop device asked for it fails every IO.
        let direct = Self.readsDirectly(path)
        let backing = open(path, O_RDWR | O_CLOEXEC | (direct ? Self.oDirect : 0))
        guard backing >= 0 else { throw Self.failure("cannot open \(path)") }
        defer { _ = Glibc.close(backing) }
        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        guard control >= 0 else { throw Self.failure("cannot open /dev/loop-control") }
        defer { _ = Glibc.close(control) }
        var lastError = StoreHostError(description: "no free loop device")
        // Another program may take the number LOOP_CTL_GET_FREE gave before we bind it: try again.
        for _ in 0..<8 {
            let number = ioctl(control, Self.loopCtlGetFree)
            guard number >= 0 else { throw Self.failure("LOOP_CTL_GET_FREE failed") }
            let node = "/dev/loop\(number)"
            let fd = open(node, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else {
                lastError = Self.failure("cannot open \(node)")
                continue
            }
            var config = [UInt8](repeating: 0, count: Self.configSize)
            config.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: UInt32(backing), toByteOffset: 0, as: UInt32.self)
                raw.storeBytes(of: UInt32(4096), toByteOffset: 4, as: UInt32.self)
                raw.storeBytes(
                    of: Self.autoclear | (direct ? Self.directIO : 0), toByteOffset: Self.flagsOffset, as: UInt32.self)
            }
            let done = config.withUnsafeMutableBytes { ioctl(fd, Self.loopConfigure, $0.baseAddress!) }
            if done == 0 {
                var st = stat()
                guard fstat(fd, &st) == 0 else {
                    let error = Self.failure("cannot stat \(node)")
                    _ = Glibc.close(fd)
                    throw error
                }
                return LoopHandle(dev: DeviceNumber(encoded: UInt64(st.st_rdev)), fd: fd)
            }
            lastError = Self.failure("LOOP_CONFIGURE of \(node) over \(path) failed")
            _ = Glibc.close(fd)
            if errno != EBUSY { break }
        }
        throw lastError
    }

    /// Whether an O_DIRECT read of the file's first block works (open alone succeeds on overlayfs).
    private static func readsDirectly(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | oDirect)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { buffer.deallocate() }
        return pread(fd, buffer, 4096, 0) >= 0
    }

    func close(_ handle: LoopHandle) {
        _ = Glibc.close(handle.fd)
    }

    private static func failure(_ what: String) -> StoreHostError {
        StoreHostError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
