// DeviceIdentity: what tells a block device from another that later gets the same MAJOR:MINOR.
import Foundation

/// Loop and dm devices hand their numbers out again as soon as they are freed, so "7:0" after a
/// reboot or a `losetup -d` may be another image entirely; a filter desired for the old one must not
/// land on it. The identity is the strongest thing the kernel reports: the dm uuid (or, without one,
/// the dm name), the loop device's backing file and its inode, a disk's WWID or serial number. Other
/// devices (partitions, null_blk, md) have none and are matched by number, as before.
enum DeviceIdentity {
    static func of(_ d: DeviceSummary) -> String? {
        if let uuid = d.dmUUID { return "dm-uuid:\(uuid)" }
        if let name = d.dmName { return "dm-name:\(name)" }
        if d.kind == "loop", let file = d.loopBackingFile, !file.isEmpty {
            // A file replaced under the same path is another image: the inode tells them apart.
            var info = stat()
            guard stat(file, &info) == 0 else { return "loop:\(file)" }
            return "loop:\(file)@\(info.st_dev):\(info.st_ino)"
        }
        if let wwid = d.wwid { return "wwid:\(wwid)" }
        if let serial = d.serial { return "serial:\(serial)" }
        return nil
    }
}
