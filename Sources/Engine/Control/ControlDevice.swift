// ControlDevice: owns /dev/mapper/control — opens it lazily, creates the node when dm-mod is loaded but the node is missing.
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The real transport: the process's descriptor of the dm control device.
final class ControlDevice: DMControlTransport {
    let path: String
    private let procMiscPath: String
    /// nil until first use and after `reopenOnNextUse()`. Held while an ioctl runs, so closing
    /// never races a call in flight.
    private let descriptor = Mutex<Int32?>(nil)
    /// "dm-mod is not loaded", remembered briefly: on a host without dm every request would otherwise
    /// read /proc/misc again, and loading dm-mod is noticed within `absentRecheck` anyway.
    private let absent = Mutex<(until: ContinuousClock.Instant, error: ControlDeviceError)?>(nil)
    static let absentRecheck = Duration.seconds(1)

    init(path: String, procMiscPath: String = "/proc/misc") {
        self.path = path
        self.procMiscPath = procMiscPath
    }

    deinit {
        descriptor.withLock { fd in
            if let open = fd { close(open) }
        }
    }

    func ioctl(_ command: UInt, _ buffer: UnsafeMutableRawBufferPointer) throws(ControlDeviceError) -> Int32 {
        try descriptor.withLock { (fd: inout Int32?) throws(ControlDeviceError) -> Int32 in
            if fd == nil { fd = try open() }
            let result = Glibc.ioctl(fd!, command, buffer.baseAddress!)
            return result < 0 ? Glibc.errno : 0
        }
    }

    func reopenOnNextUse() {
        descriptor.withLock { fd in
            if let open = fd { close(open) }
            fd = nil
        }
    }

    private func open() throws(ControlDeviceError) -> Int32 {
        if let known = absent.withLock({ $0 }), ContinuousClock.now < known.until { throw known.error }
        var fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 && Glibc.errno == ENOENT {
            do {
                try createNode()
            } catch {
                if error.errno == ENOENT {
                    absent.withLock { $0 = (ContinuousClock.now + Self.absentRecheck, error) }
                }
                throw error
            }
            fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        }
        guard fd >= 0 else {
            let e = Glibc.errno
            let kind: FilterControlError.Kind = (e == EACCES || e == EPERM) ? .permissionDenied : .ioctlUnavailable
            throw ControlDeviceError(
                kind: kind, errno: e, reason: "cannot open \(path): \(String(cString: strerror(e)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFCHR else {
            close(fd)
            throw ControlDeviceError(
                kind: .ioctlUnavailable, errno: ENOTTY, reason: "\(path) is not a character device")
        }
        return fd
    }

    /// dm-mod registers the misc device "device-mapper"; without udev nobody creates its node.
    /// libdevmapper does the same mknod internally but exposes it only as a side effect of
    /// running a task (which may also try `modprobe`), so the engine does it explicitly.
    private func createNode() throws(ControlDeviceError) {
        guard let minor = Self.miscMinor(named: "device-mapper", procMisc: procMiscPath) else {
            throw ControlDeviceError(
                kind: .ioctlUnavailable, errno: ENOENT,
                reason: "dm-mod is not loaded (\(path) is missing and \(procMiscPath) lists no device-mapper)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let miscMajor: UInt32 = 10
        if mknod(path, S_IFCHR | 0o600, dev_t(DeviceNumber(major: miscMajor, minor: minor).encoded)) != 0
            && Glibc.errno != EEXIST
        {
            let e = Glibc.errno
            throw ControlDeviceError(
                kind: e == EPERM || e == EACCES ? .permissionDenied : .ioctlUnavailable, errno: e,
                reason: "\(path) is missing and creating it (char 10:\(minor)) failed: \(String(cString: strerror(e)))")
        }
    }

    /// The minor of a misc device in /proc/misc ("236 device-mapper" lines), nil when absent.
    static func miscMinor(named name: String, procMisc: String) -> UInt32? {
        guard let text = try? String(contentsOfFile: procMisc, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count == 2, fields[1] == name, let minor = UInt32(fields[0]) { return minor }
        }
        return nil
    }
}
