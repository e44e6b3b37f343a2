// BlockDevice: one block device of this host as the inventory reports it.
import Foundation

public struct BlockDevice: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, Equatable {
        case disk, partition, loop, dm, null_blk, md, other
    }

    /// The kernel's name ("loop0", "dm-3", "sda1").
    public var name: String
    /// The device node ("/dev/loop0"); dm devices keep their kernel node, their name is in `dmName`.
    public var path: String
    public var dev: DeviceNumber
    public var sizeBytes: UInt64
    public var kind: Kind
    public var readOnly: Bool
    /// Kernel names of the devices stacked on this one (dm, md), sorted.
    public var holders: [String]
    /// For a bound loop device, the file behind it.
    public var loopBackingFile: String?
    public var dmName: String?
    public var dmUUID: String?
    /// A whole disk's world-wide id and serial number, where the driver reports them (SCSI, NVMe, virtio).
    public var wwid: String?
    public var serial: String?
    /// Filter types attached now; filled by `DeviceInventory.list(attachments:)`, else empty.
    public var attachments: [String]

    public init(
        name: String, path: String, dev: DeviceNumber, sizeBytes: UInt64, kind: Kind, readOnly: Bool,
        holders: [String] = [], loopBackingFile: String? = nil, dmName: String? = nil, dmUUID: String? = nil,
        wwid: String? = nil, serial: String? = nil, attachments: [String] = []
    ) {
        self.name = name
        self.path = path
        self.dev = dev
        self.sizeBytes = sizeBytes
        self.kind = kind
        self.readOnly = readOnly
        self.holders = holders
        self.loopBackingFile = loopBackingFile
        self.dmName = dmName
        self.dmUUID = dmUUID
        self.wwid = wwid
        self.serial = serial
        self.attachments = attachments
    }
}
