// ReconcilePlan: the pure decision of what to do so that the kernel matches the desired rows of one host.
import Engine
import Foundation

/// What the kernel says is attached, or why it cannot say.
enum KernelView: Sendable, Equatable {
    case attachments([KernelAttachment])
    case unavailable(String)
}

enum ReconcileAction: Sendable, Equatable {
    /// Desired, the device is there, the kernel lacks it: attach (EEXIST then counts as attached).
    case attach(id: String)
    /// The kernel has it but the row says otherwise (a crash between IOCTL and record, or a race).
    case markAttached(id: String, attachedAt: Date)
    case markWaiting(id: String)
    case markFailed(id: String, reason: String)
    /// A detach was asked for and the kernel still has the attachment: detach, then forget the row.
    case finishDetach(id: String)
    /// A detach was asked for and the kernel no longer has it: forget the row.
    case forget(id: String)
}

enum ReconcilePlan {
    /// Decides per row; kernel attachments without a row are unmanaged and never touched.
    /// `attachOnce`: the filter types whose attach takes state only the kernel holds (cow's
    /// snapshot): never attached here, since a new attach would silently be a different snapshot.
    static func actions(
        rows: [AttachmentRow], kernel: KernelView, presentDevices: Set<DeviceNumber>, attachOnce: Set<String> = []
    ) -> [ReconcileAction] {
        rows.compactMap { row in
            switch kernel {
            case .unavailable(let reason):
                // A listing that failed (ENOMEM, EMFILE, a control device that would not reopen) says
                // nothing about what is attached: forgetting the row would leave its filter in the kernel
                // as an unmanaged attachment nobody can remove through the API. The next pass retries.
                if row.phase == .detaching { return nil }
                if row.phase == .failed && row.error == reason { return nil }
                return .markFailed(id: row.id, reason: reason)
            case .attachments(let list):
                let inKernel = list.first { $0.device == row.dev && $0.filter == row.filter }
                if row.phase == .detaching {
                    return inKernel == nil ? .forget(id: row.id) : .finishDetach(id: row.id)
                }
                if let inKernel {
                    if row.phase == .attached && row.error == nil { return nil }
                    return .markAttached(id: row.id, attachedAt: inKernel.attachedAt)
                }
                if let reason = row.lastingReason {
                    // what the kernel held cannot be rebuilt: a new attach would undo the message's effect
                    return row.phase == .failed && row.error == reason ? nil : .markFailed(id: row.id, reason: reason)
                }
                if attachOnce.contains(row.filter) {
                    let reason = row.phase == .pending ? neverTaken : lost
                    return row.phase == .failed && row.error == reason ? nil : .markFailed(id: row.id, reason: reason)
                }
                if presentDevices.contains(row.dev) { return .attach(id: row.id) }
                if row.phase == .waitingDevice { return nil }
                return .markWaiting(id: row.id)
            }
        }
    }

    static let lost = "snapshot lost (reboot, module unload or device removal): detach it and take a new one"
    static let neverTaken =
        "the snapshot was never taken (dmfltd stopped during the take): detach it and take a new one"

    /// Kernel attachments no row claims, whatever the row's phase.
    static func unmanaged(rows: [AttachmentRow], kernel: [KernelAttachment]) -> [KernelAttachment] {
        let claimed = Set(rows.map { ClaimKey(dev: $0.dev, filter: $0.filter) })
        return kernel.filter { !claimed.contains(ClaimKey(dev: $0.device, filter: $0.filter)) }
    }

    private struct ClaimKey: Hashable {
        var dev: DeviceNumber
        var filter: String
    }
}
