// DeviceStacking: whether two block devices share storage (the same device, one disk, or one stacked on the other), read from sysfs.
import Foundation

/// How a device relates to another one whose data it must not hold (mirror's target and its source).
public enum DeviceRelation: Sendable, Equatable {
    case same
    /// One is a partition of the other, or both are partitions of one disk.
    case sameDisk
    /// The first is built on the second (dm, md: the second is among its slaves, at any depth).
    case stackedOn
    /// The second is built on the first.
    case under
}

extension DeviceInventory {
    /// How `a` relates to `b`, or nil when neither holds the other's storage.
    public func relation(of a: DeviceNumber, to b: DeviceNumber) -> DeviceRelation? {
        if a == b { return .same }
        guard let nameA = names()[a], let nameB = names()[b] else { return nil }
        if disk(of: nameA) == disk(of: nameB) { return .sameDisk }
        if below(nameA).contains(disk(of: nameB)) || below(nameA).contains(nameB) { return .stackedOn }
        if below(nameB).contains(disk(of: nameA)) || below(nameB).contains(nameA) { return .under }
        return nil
    }

    /// A partition's disk; any other device is its own.
    func disk(of name: String) -> String {
        let dir = sysfsRoot + "/class/block/" + name
        guard FileManager.default.fileExists(atPath: dir + "/partition"),
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir)
        else { return name }
        return ((target as NSString).deletingLastPathComponent as NSString).lastPathComponent
    }

    /// Every device `name` is built on, at any depth, with the disks of the partitions among them.
    func below(_ name: String) -> Set<String> {
        var seen = Set<String>()
        var todo = [name]
        while let next = todo.popLast() {
            let slaves =
                (try? FileManager.default.contentsOfDirectory(atPath: sysfsRoot + "/class/block/\(next)/slaves")) ?? []
            for slave in slaves where !seen.contains(slave) {
                seen.insert(slave)
                seen.insert(disk(of: slave))
                todo.append(slave)
            }
        }
        return seen
    }
}
