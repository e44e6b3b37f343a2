// DeviceResolution: turns what a user types (loop0, /dev/loop0, 7:0, /dev/mapper/NAME, a dm name) into one block device.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension DeviceInventory {
    /// Resolves `input` to exactly one block device. Paths are walked component by component
    /// without ever leaving /dev (symlinks included); nothing is opened.
    public func resolve(_ input: String) throws(DeviceResolutionError) -> BlockDevice {
        guard !input.isEmpty else { throw .empty }
        guard input.utf8.count <= 4096 else { throw .tooLong(length: input.utf8.count) }
        guard
            !input.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f || $0.properties.isWhitespace })
        else { throw .controlCharacters(input) }

        if let number = DeviceNumber(parsing: input) {
            guard let device = device(number) else { throw .noSuchDevice(input) }
            return device
        }
        if input.hasPrefix("/") { return try resolvePath(input) }
        if input.contains("/") { throw .relativePath(input) }
        return try resolveName(input)
    }

    private func inventory() throws(DeviceResolutionError) -> [BlockDevice] {
        do {
            return try list()
        } catch {
            throw .inventoryUnreadable(String(describing: error))
        }
    }

    /// A kernel name ("loop0", "dm-1") or a dm name ("vg-lv").
    private func resolveName(_ name: String) throws(DeviceResolutionError) -> BlockDevice {
        guard name != ".", name != ".." else { throw .noSuchDevice(name) }
        let devices = try inventory()
        let byKernelName = devices.first { $0.name == name }
        let byDMName = devices.first { $0.dmName == name }
        switch (byKernelName, byDMName) {
        case (let a?, let b?) where a.dev != b.dev:
            throw .ambiguous(input: name, candidates: ["\(a.path) (\(a.dev))", "\(b.path) (dm name, \(b.dev))"])
        case (let a?, _):
            return a
        case (nil, let b?):
            return b
        case (nil, nil):
            throw .noSuchDevice(name)
        }
    }

    private func resolvePath(_ input: String) throws(DeviceResolutionError) -> BlockDevice {
        let components = input.split(separator: "/").map(String.init)
        guard components.first == "dev" else { throw .outsideDev(input) }
        guard components.count >= 2 else { throw .notABlockDevice(path: input, what: "a directory") }
        guard !components.contains(where: { $0 == "." || $0 == ".." }) else { throw .pathTraversal(input) }

        // dm devices by name do not need their /dev/mapper node (it is missing without udev).
        if components.count == 3, components[1] == "mapper", components[2] != "control",
            let device = try inventory().first(where: { $0.dmName == components[2] })
        {
            return device
        }

        let number = try walk(Array(components.dropFirst()), input: input)
        guard let device = device(number) else { throw .noSuchDevice(input) }
        return device
    }

    /// Follows `remaining` (components below /dev) to a block device node and returns its number.
    private func walk(_ start: [String], input: String) throws(DeviceResolutionError) -> DeviceNumber {
        var resolved: [String] = []  // components below /dev that are real directories (or the final node)
        var remaining = start[...]
        var symlinks = 0
        while let component = remaining.popFirst() {
            let path = devRoot + "/" + (resolved + [component]).joined(separator: "/")
            var info = stat()
            guard lstat(path, &info) == 0 else { throw .noSuchPath(input) }
            switch info.st_mode & S_IFMT {
            case S_IFLNK:
                symlinks += 1
                guard symlinks <= 40 else { throw .tooManySymlinks(input) }
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) else {
                    throw .noSuchPath(input)
                }
                var base: [String]
                var targetComponents = target.split(separator: "/").map(String.init)
                if target.hasPrefix("/") {
                    guard targetComponents.first == "dev" else { throw .symlinkLeavesDev(path: input, target: target) }
                    targetComponents.removeFirst()
                    base = []
                } else {
                    base = resolved
                }
                for part in targetComponents {
                    switch part {
                    case ".": continue
                    case "..":
                        guard !base.isEmpty else { throw .symlinkLeavesDev(path: input, target: target) }
                        base.removeLast()
                    default: base.append(part)
                    }
                }
                // The link's target replaces it: re-walk the target from /dev, then the rest.
                remaining = (base + remaining)[...]
                resolved = []
            case S_IFDIR:
                guard remaining.isEmpty else {
                    resolved.append(component)
                    continue
                }
                throw .notABlockDevice(path: input, what: "a directory")
            case S_IFBLK:
                guard remaining.isEmpty else { throw .noSuchPath(input) }
                return DeviceNumber(encoded: UInt64(info.st_rdev))
            case S_IFCHR:
                guard remaining.isEmpty else { throw .noSuchPath(input) }
                throw .notABlockDevice(path: input, what: "a character device")
            case S_IFREG:
                guard remaining.isEmpty else { throw .noSuchPath(input) }
                throw .notABlockDevice(path: input, what: "a regular file")
            default:
                throw .notABlockDevice(path: input, what: "a socket or pipe")
            }
        }
        throw .notABlockDevice(path: input, what: "a directory")
    }
}
