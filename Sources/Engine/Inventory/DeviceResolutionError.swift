// DeviceResolutionError: why what a user typed does not name exactly one block device.
import Foundation

public enum DeviceResolutionError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong(length: Int)
    case controlCharacters(String)
    /// Neither a name, MAJOR:MINOR, nor an absolute path.
    case relativePath(String)
    /// An absolute path that does not start with /dev/.
    case outsideDev(String)
    /// A path with "." or ".." components, which could walk out of /dev.
    case pathTraversal(String)
    /// A symlink under /dev points outside it.
    case symlinkLeavesDev(path: String, target: String)
    case tooManySymlinks(String)
    case noSuchPath(String)
    /// The path exists but is something else (`what`: "a character device", "a directory", ...).
    case notABlockDevice(path: String, what: String)
    /// No block device has this name, dm name or number.
    case noSuchDevice(String)
    /// The input is the kernel name of one device and the dm name of another.
    case ambiguous(input: String, candidates: [String])
    case inventoryUnreadable(String)

    public var description: String {
        switch self {
        case .empty:
            return "no device given; name one as loop0, /dev/loop0, 7:0, /dev/mapper/NAME or a dm name"
        case .tooLong(let length):
            return "the device name is \(length) bytes long; no block device name is longer than 4096"
        case .controlCharacters(let input):
            return "the device name \(input.debugDescription) contains control characters or whitespace"
        case .relativePath(let input):
            return "'\(input)' is neither a device name (loop0, dm name), MAJOR:MINOR, nor an absolute path under /dev"
        case .outsideDev(let input):
            return "'\(input)' is not under /dev; dmflt only resolves device paths under /dev"
        case .pathTraversal(let input):
            return "'\(input)' contains '.' or '..' components; give the device path without them"
        case .symlinkLeavesDev(let path, let target):
            return "'\(path)' is a symlink to '\(target)', which leaves /dev"
        case .tooManySymlinks(let input):
            return "'\(input)' goes through too many symlinks"
        case .noSuchPath(let input):
            return "'\(input)' does not exist"
        case .notABlockDevice(let path, let what):
            return "'\(path)' is \(what), not a block device"
        case .noSuchDevice(let input):
            return "no block device is named '\(input)' (kernel name, dm name or MAJOR:MINOR)"
        case .ambiguous(let input, let candidates):
            return
                "'\(input)' names more than one block device: \(candidates.joined(separator: ", ")); use its /dev path or MAJOR:MINOR"
        case .inventoryUnreadable(let reason):
            return "cannot read the block device inventory: \(reason)"
        }
    }
}
