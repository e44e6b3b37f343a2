// FilterControl: the operations of the dm filter IOCTL ABI, as the rest of dmflt sees them.
import Foundation

/// A filter type the kernel has registered (a loaded `dm-flt-<name>.ko`).
public struct KernelFilterType: Sendable, Equatable, Codable {
    public var name: String
    /// major.minor.patch of the type's implementation.
    public var version: [UInt32]
    /// How many attachments use the type now.
    public var attachments: Int

    public init(name: String, version: [UInt32], attachments: Int) {
        self.name = name
        self.version = version
        self.attachments = attachments
    }

    public var versionString: String { version.map(String.init).joined(separator: ".") }
}

/// One filter attached to one block device, as the kernel reports it.
/// A device carries at most one attachment per filter type, so (device, filter) names it.
public struct KernelAttachment: Sendable, Equatable, Hashable, Codable {
    public var device: DeviceNumber
    public var filter: String
    public var attachedAt: Date

    public init(device: DeviceNumber, filter: String, attachedAt: Date) {
        self.device = device
        self.filter = filter
        self.attachedAt = attachedAt
    }
}

/// What STATUS answers for one attachment.
public struct KernelAttachmentStatus: Sendable, Equatable {
    public var attachment: KernelAttachment
    /// The filter type's one-line status text (name=value words); its type decodes it.
    public var text: String

    public init(attachment: KernelAttachment, text: String) {
        self.attachment = attachment
        self.text = text
    }
}

/// What QUERY answers: `count` records in `payload`, laid out as the filter type defines.
public struct KernelQueryReply: Sendable, Equatable {
    public var count: Int
    public var payload: [UInt8]

    public init(count: Int, payload: [UInt8]) {
        self.count = count
        self.payload = payload
    }
}

/// The dm filter IOCTL. `DMFilterControl` is the one real implementation; tests have a double.
/// Calls are short syscalls and may block briefly; they are safe to call from any thread.
public protocol FilterControl: Sendable {
    func listTypes() throws(FilterControlError) -> [KernelFilterType]
    func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError)
    func detach(device: DeviceNumber, filter: String) throws(FilterControlError)
    func listAttachments() throws(FilterControlError) -> [KernelAttachment]
    func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus
    /// Sends a filter type a message (words, like `dmsetup message`) and returns its reply text.
    func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String
    /// Asks a filter type for structured data (words naming what, e.g. "events 17").
    func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> KernelQueryReply
}

/// A failed filter operation: which operation, on which device and filter, and why.
public struct FilterControlError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// The kernel's dm-mod has no filter command (ENOTTY), or /dev/mapper/control is missing.
        case ioctlUnavailable
        /// The caller may not issue dm ioctls (EACCES/EPERM).
        case permissionDenied
        /// The kernel refused the message or the options (EINVAL).
        case invalid
        /// No such block device (ENODEV).
        case noSuchDevice
        /// The filter type is not registered in the kernel (ENOENT).
        case noSuchFilterType
        /// This filter type is already attached to the device (EEXIST).
        case alreadyAttached
        /// No such attachment (ENXIO).
        case notAttached
        /// The hook or the device is busy (EBUSY).
        case busy
        /// The answer did not carry the filter ABI's magic: command 18 means something else here.
        case foreignReply
        /// Anything else (ENOMEM, EFAULT, ...).
        case system
    }

    public var kind: Kind
    /// The ABI operation, e.g. "attach".
    public var operation: String
    public var device: DeviceNumber?
    public var filter: String?
    /// The errno, 0 when the failure was not a syscall's.
    public var errno: Int32
    /// A sentence a person can act on.
    public var description: String

    public init(
        kind: Kind, operation: String, device: DeviceNumber? = nil, filter: String? = nil, errno: Int32,
        description: String
    ) {
        self.kind = kind
        self.operation = operation
        self.device = device
        self.filter = filter
        self.errno = errno
        self.description = description
    }
}
