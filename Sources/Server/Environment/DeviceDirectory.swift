// DeviceDirectory: the host's block devices as the API needs them (the Engine's DeviceInventory in the daemon).
import Engine

/// One block device, in the shape the API shows.
struct DeviceSummary: Sendable, Equatable {
    var name: String
    var path: String
    var dev: DeviceNumber
    var sizeBytes: UInt64
    /// One of disk, partition, loop, dm, null_blk, md, other.
    var kind: String
    var readOnly: Bool
    var holders: [String]
    var loopBackingFile: String?
    var dmName: String?
    var dmUUID: String?
    var wwid: String? = nil
    var serial: String? = nil
}

/// How an attachment names its device: all a list needs, and cheap to read for every device at once.
struct DeviceLabel: Sendable, Equatable {
    var name: String
    var path: String
}

extension DeviceSummary {
    var label: DeviceLabel { DeviceLabel(name: name, path: path) }
}

/// What a client's device text names.
enum DeviceLookup: Sendable, Equatable {
    case present(DeviceSummary)
    /// A MAJOR:MINOR that names no device now; an attachment to it waits until it appears.
    case absent(DeviceNumber)
    /// Not a block device, or no such path or name: a sentence saying why.
    case invalid(String)
}

protocol DeviceDirectory: Sendable {
    func devices() throws -> [DeviceSummary]
    /// Every present device's name and path by number.
    func labels() -> [DeviceNumber: DeviceLabel]
    func device(_ dev: DeviceNumber) -> DeviceSummary?
    func lookup(_ text: String) -> DeviceLookup
    /// How device a shares storage with device b (the same, one disk, stacked), or nil.
    func relation(of a: DeviceNumber, to b: DeviceNumber) -> DeviceRelation?
}
