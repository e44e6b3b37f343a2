// DeviceInventory: the host's block devices, read from sysfs (/sys/class/block), and resolution of what a user types.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct DeviceInventory: Sendable {
    public let sysfsRoot: String
    public let devRoot: String
    /// The kernel's /proc/diskstats, which `names()` reads first; nil to use sysfs links only. It
    /// defaults to the real file only for the real sysfs (a test tree brings its own or none).
    public let diskstatsPath: String?

    public init(sysfsRoot: String = "/sys", devRoot: String = "/dev", diskstatsPath: String? = nil) {
        self.sysfsRoot = sysfsRoot
        self.devRoot = devRoot
        self.diskstatsPath = diskstatsPath ?? (sysfsRoot == "/sys" ? "/proc/diskstats" : nil)
    }

    /// Why the inventory could not be read at all.
    public struct ReadError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    private var classBlock: String { sysfsRoot + "/class/block" }

    /// Every block device, sorted by dev number. Devices that vanish while being read are left out.
    public func list() throws -> [BlockDevice] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: classBlock)
        } catch {
            throw ReadError(description: "cannot list block devices in \(classBlock): \(error.localizedDescription)")
        }
        return names.compactMap(read(name:)).sorted { $0.dev < $1.dev }
    }

    /// Every block device with `attachments` filled from the kernel's attachment list.
    public func list(attachments: [KernelAttachment]) throws -> [BlockDevice] {
        var byDevice: [DeviceNumber: [String]] = [:]
        for attachment in attachments { byDevice[attachment.device, default: []].append(attachment.filter) }
        return try list().map { device in
            var device = device
            device.attachments = (byDevice[device.dev] ?? []).sorted()
            return device
        }
    }

    /// Every block device's kernel name by dev number: what a list of attachments needs to name its
    /// devices, at a small part of the cost of reading each device's attributes. One read of
    /// /proc/diskstats, which has a line for every disk (empty ones included) and every partition
    /// with sectors; the sysfs links (/sys/dev/block/MAJ:MIN -> .../NAME, one readlink each, a
    /// kernfs path walk) only when it cannot be read.
    public func names() -> [DeviceNumber: String] {
        if let diskstatsPath, let bytes = Self.readSmallFile(diskstatsPath) { return Self.names(diskstats: bytes) }
        return linkedNames()
    }

    /// "   7       0 loop0 0 0 ..." lines: major, minor and the disk name, whose '/' sysfs spells '!'.
    /// Parsed on bytes: this runs for every list request.
    static func names(diskstats bytes: [UInt8]) -> [DeviceNumber: String] {
        var names: [DeviceNumber: String] = [:]
        var i = 0
        let n = bytes.count
        func skipBlanks() { while i < n && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 } }
        func number() -> UInt32? {
            var value: UInt32 = 0
            let start = i
            while i < n, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt32(bytes[i] - 0x30))
                guard !o1, !o2 else { return nil }
                value = a
                i += 1
            }
            return i > start ? value : nil
        }
        while i < n {
            skipBlanks()
            let major = number()
            skipBlanks()
            let minor = number()
            skipBlanks()
            let nameStart = i
            var slash = false
            while i < n, bytes[i] != 0x20, bytes[i] != 0x09, bytes[i] != 0x0A {
                if bytes[i] == 0x2F { slash = true }
                i += 1
            }
            if let major, let minor, i > nameStart {
                var name = String(decoding: bytes[nameStart..<i], as: UTF8.self)
                if slash { name = name.replacingOccurrences(of: "/", with: "!") }
                names[DeviceNumber(major: major, minor: minor)] = name
            }
            while i < n && bytes[i] != 0x0A { i += 1 }
            i += 1
        }
        return names
    }

    /// The same index from the /sys/dev/block links.
    func linkedNames() -> [DeviceNumber: String] {
        let dir = "\(sysfsRoot)/dev/block"
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [:] }
        var names: [DeviceNumber: String] = [:]
        for entry in entries {
            guard let dev = DeviceNumber(parsing: entry),
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + entry)
            else { continue }
            let name = (target as NSString).lastPathComponent
            if !name.isEmpty { names[dev] = name }
        }
        return names
    }

    /// A procfs file's whole content (they report no size, so read until the end), nil when unreadable.
    static func readSmallFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var capacity = 16 * 1024
        while true {
            var failed = false
            let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                count = 0
                while count < capacity {
                    let n = Glibc.read(fd, buffer.baseAddress! + count, capacity - count)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { failed = true }
                    if n <= 0 { return }
                    count += n
                }
            }
            if failed { return nil }
            if bytes.count < capacity { return bytes }
            // Full: read it all again into more room (procfs text is generated per read).
            capacity *= 4
            guard lseek(fd, 0, SEEK_SET) == 0, capacity <= 64 << 20 else { return nil }
        }
    }

    /// The /dev path of a device with this kernel name (`!` in sysfs names stands for `/`).
    public static func path(ofKernelName name: String) -> String { "/dev/" + nodeName(name) }

    /// The block device with this dev number, nil when there is none.
    public func device(_ dev: DeviceNumber) -> BlockDevice? {
        // /sys/dev/block/MAJ:MIN links to the device; its last component is the kernel name.
        // Every block device has that link, so without it there is no such device: scanning them all
        // as well made each lookup of an absent device (a waiting attachment) cost a full inventory.
        let link = "\(sysfsRoot)/dev/block/\(dev)"
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else { return nil }
        if let device = read(name: (target as NSString).lastPathComponent), device.dev == dev { return device }
        // The link's device went away or was renamed between the two reads: look for the number itself.
        return (try? list())?.first { $0.dev == dev }
    }

    /// Reads one device's attributes; nil when it is not (or no longer) a block device.
    func read(name: String) -> BlockDevice? {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/") else { return nil }
        let dir = "\(classBlock)/\(name)"
        guard let devText = attribute(dir, "dev"), let dev = DeviceNumber(parsing: devText),
            let sectors = attribute(dir, "size").flatMap(UInt64.init)
        else { return nil }
        let holders = ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/holders")) ?? []).sorted()
        let dmName = attribute(dir, "dm/name")
        let kind = self.kind(name: name, dir: dir, isDM: dmName != nil)
        return BlockDevice(
            name: name, path: "/dev/" + Self.nodeName(name),
            dev: dev, sizeBytes: sectors &* 512, kind: kind, readOnly: attribute(dir, "ro") == "1", holders: holders,
            loopBackingFile: kind == .loop ? attribute(dir, "loop/backing_file") : nil, dmName: dmName,
            dmUUID: attribute(dir, "dm/uuid").flatMap { $0.isEmpty ? nil : $0 },
            wwid: kind == .disk ? nonEmpty(attribute(dir, "wwid") ?? attribute(dir, "device/wwid")) : nil,
            serial: kind == .disk ? nonEmpty(attribute(dir, "serial") ?? attribute(dir, "device/serial")) : nil)
    }

    private func nonEmpty(_ text: String?) -> String? { text.flatMap { $0.isEmpty ? nil : $0 } }

    private func kind(name: String, dir: String, isDM: Bool) -> BlockDevice.Kind {
        let fm = FileManager.default
        if fm.fileExists(atPath: dir + "/partition") { return .partition }
        if isDM { return .dm }
        if fm.fileExists(atPath: dir + "/loop") || Self.numbered(name, prefix: "loop") { return .loop }
        if fm.fileExists(atPath: dir + "/md") { return .md }
        if Self.numbered(name, prefix: "nullb") { return .null_blk }
        // Whole disks sit on a bus and have a "device" link; ram, zram and friends are virtual.
        if fm.fileExists(atPath: dir + "/device") { return .disk }
        return .other
    }

    private static func numbered(_ name: String, prefix: String) -> Bool {
        name.hasPrefix(prefix) && name.count > prefix.count && name.dropFirst(prefix.count).allSatisfy(\.isNumber)
    }

    /// sysfs spells "/" in device names as "!" (cciss!c0d0 is /dev/cciss/c0d0).
    static func nodeName(_ kernelName: String) -> String {
        // Almost no name has a '!': skip Foundation's replacement (it ran for every device of every list).
        kernelName.utf8.contains(UInt8(ascii: "!")) ? kernelName.replacingOccurrences(of: "!", with: "/") : kernelName
    }

    private func attribute(_ dir: String, _ name: String) -> String? {
        guard let data = FileManager.default.contents(atPath: dir + "/" + name) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
