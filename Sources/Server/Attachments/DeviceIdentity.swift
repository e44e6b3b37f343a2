// DeviceIdentity: what tells a block device from another that later gets the same MAJOR:MINOR.
import Foundation

/// Loop and dm devices hand their numbers out again as soon as they are freed, so "7:0" after a
/// reboot or a `losetup -d` may be another image entirely; a filter desired for the old one must not
/// land on it. The identity is the strongest thing the kernel reports: the dm uuid (or, without one,
/// the dm name), the loop device's backing file with its inode and the inode's generation, a disk's
/// WWID or serial number. Other devices (partitions, null_blk, md) have none and are matched by
/// number, as before.
enum DeviceIdentity {
    static func of(_ d: DeviceSummary) -> String? {
        if let uuid = d.dmUUID { return "dm-uuid:\(uuid)" }
        if let name = d.dmName { return "dm-name:\(name)" }
        if d.kind == "loop", let file = d.loopBackingFile, !file.isEmpty {
            var info = stat()
            guard stat(file, &info) == 0 else { return "loop:\(file)" }
            let inode = "loop:\(file)@\(info.st_dev):\(info.st_ino)"
            // A file deleted and made again under the same path very often gets the same inode
            // number back (ext4 hands out the lowest free one); the generation, drawn at random when
            // the inode is made, tells the two apart. Filesystems without one keep the inode alone.
            guard info.st_mode & S_IFMT == S_IFREG, let generation = inodeGeneration(file) else { return inode }
            return "\(inode):\(generation)"
        }
        if let wwid = d.wwid { return "wwid:\(wwid)" }
        if let serial = d.serial { return "serial:\(serial)" }
        return nil
    }

    /// Whether a stored identity names the device now present. An identity stored before the inode
    /// generation was part of it ("loop:FILE@DEV:INO") still matches the same inode.
    static func matches(stored: String, current: String?) -> Bool {
        guard let current else { return false }
        if stored == current { return true }
        guard stored.hasPrefix("loop:"), stored.contains("@"), current.hasPrefix(stored + ":") else { return false }
        return stored.split(separator: "@").last?.split(separator: ":").count == 2
    }

    /// FS_IOC_GETVERSION (`_IOR('v', 1, long)`): the inode's generation number, nil where the
    /// filesystem has none or the file cannot be opened.
    private static func inodeGeneration(_ file: String) -> UInt32? {
        let fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var generation: CLong = 0
        let fsIocGetversion: UInt = 0x8008_7601
        guard ioctl(fd, fsIocGetversion, &generation) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: generation)
    }
}
