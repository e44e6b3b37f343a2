// AttachmentError: why attaching, detaching or messaging an attachment was refused, and the problem+json it is shown as.
import Engine
import Foundation

enum AttachmentError: ProblemConvertible {
    /// A device text, option or id that cannot be used.
    case invalid(String)
    case unknownFilter(String)
    /// The id holds another spec; `holder` says which.
    case idTaken(id: String, holder: String)
    case beingDetached(id: String)
    /// This filter is on this device already, as another attachment of dmflt's.
    case filterTaken(filter: String, dev: DeviceNumber, id: String)
    /// This filter is on this device already, attached outside dmflt (`detail` says how it was seen).
    case attachedOutside(detail: String)
    case notFound(id: String)
    /// An attachment dmflt did not make: shown, never changed.
    case unmanaged(id: String)
    case notAttached(id: String, phase: AttachmentPhase)
    case kernel(FilterControlError)
    case store(any Error)
    /// A filter that takes state at the instant of its attach (a snapshot) needs its device there now.
    case deviceAbsent(dev: DeviceNumber, filter: String)
    /// A store that passed its checks could not be made or opened (no space, no loop device).
    case storeUnusable(String)
    /// The kernel refused a detach while a reader holds what the filter serves (cow's image).
    case inUse(id: String, detail: String, type: String)

    var problem: Problem {
        switch self {
        case .invalid(let why): return .invalidValue(why)
        case .unknownFilter(let name): return .unknownFilter(name)
        case .idTaken(let id, let holder):
            return .conflict("The id \(id) already holds \(holder) with other options or device.")
        case .beingDetached(let id): return .conflict("The attachment \(id) is being detached.")
        case .filterTaken(let filter, let dev, let id):
            return .conflict("The filter \(filter) on \(dev) is already attachment \(id).")
        case .attachedOutside(let detail):
            return Problem("already-attached", status: 409, title: "Already attached", detail: detail)
        case .notFound(let id): return .notFound("No attachment \(id) on this host.")
        case .unmanaged(let id): return .unmanaged(id)
        case .notAttached(let id, let phase):
            return Problem(
                "not-attached", status: 409, title: "Not attached",
                detail: "The attachment \(id) is \(phase.rawValue), not attached; its filter cannot take messages.")
        case .kernel(let error): return .from(error)
        case .store(let error): return .store(error)
        case .deviceAbsent(let dev, let filter):
            return Problem(
                "device-absent", status: 409, title: "Device absent",
                detail:
                    "No block device has \(dev) now; \(filter) is taken at the instant of its attach, so it cannot wait for the device."
            )
        case .storeUnusable(let why):
            return Problem("store-unusable", status: 422, title: "Store unusable", detail: why)
        case .inUse(let id, let detail, let type):
            return Problem(
                type, status: 409, title: type == "busy" ? "Busy" : "Detach refused",
                detail: "\(id) cannot be detached now: \(detail). ?force=true detaches anyway.")
        }
    }
}
