// DMControlTransport: the one boundary where the engine meets the kernel — a single dm ioctl on the control device.
import Foundation

/// Why the control device could not be used at all (before any ioctl was issued).
struct ControlDeviceError: Error, Equatable {
    var kind: FilterControlError.Kind
    var errno: Int32
    var reason: String
}

/// Issues one dm ioctl. The real implementation is `ControlDevice`; unit tests substitute a fake
/// kernel here, which is why this protocol and `DMFilterControl.init(transport:)` are internal:
/// code outside the Engine can only ever reach the real device.
protocol DMControlTransport: Sendable {
    /// Issues `command` with `buffer` once; returns 0 on success or the errno (EINTR included,
    /// the caller retries). Throws when the control device cannot be opened.
    func ioctl(_ command: UInt, _ buffer: UnsafeMutableRawBufferPointer) throws(ControlDeviceError) -> Int32

    /// Closes the control device so the next call opens it afresh: after ENOTTY the operator may
    /// swap dm-mod, which an open descriptor would prevent.
    func reopenOnNextUse()
}
