// AttachmentRow: one desired attachment as the state database keeps it (the spec and the last observed outcome).
import Engine
import Foundation

enum AttachmentPhase: String, Sendable, Equatable, CaseIterable {
    case pending
    case attached
    case failed
    case waitingDevice = "waiting-device"
    case detaching
}

struct AttachmentRow: Sendable, Equatable {
    var id: String
    var dev: DeviceNumber
    /// Last known path and name; a device named by MAJOR:MINOR that never appeared has "/dev/block/M:m" and "".
    var devicePath: String
    var deviceName: String
    var filter: String
    var options: [String: JSONValue]
    var kernelOptions: String
    var createdAt: Date
    var phase: AttachmentPhase
    var error: String?
    var attachedAt: Date?
    /// The device the attachment was made for (DeviceIdentity); nil until a device was seen at `dev`.
    var deviceIdentity: String? = nil
    /// A store file dmflt created for this attachment (cow's diff storage), removed when the row goes.
    var createdFile: String? = nil
    /// Why the attachment must never be attached again in its place (a message whose effect
    /// outlives it, mirror's cutover), recorded before that message went to the kernel.
    var lastingReason: String? = nil

    /// Two rows ask for the same thing when device, filter and validated options agree.
    func hasSameSpec(as other: AttachmentRow) -> Bool {
        dev == other.dev && filter == other.filter && options == other.options
    }
}
