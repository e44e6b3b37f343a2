// FilterControlError+Errno: turns a dm filter IOCTL errno into a typed error with a sentence a person can act on.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension FilterControlError {
    /// The symbolic name of an errno ("ENOTTY"), or "errno N" for one dm does not use.
    public static func errnoName(_ code: Int32) -> String {
        let names: [Int32: String] = [
            EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO", EBADF: "EBADF",
            ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
            ENODEV: "ENODEV", EINVAL: "EINVAL", ENOTTY: "ENOTTY", ENOSPC: "ENOSPC", ENOSYS: "ENOSYS",
            EOPNOTSUPP: "EOPNOTSUPP", EAGAIN: "EAGAIN",
        ]
        return names[code] ?? "errno \(code)"
    }

    /// What `operation` was about, in words: "attach filter 'stat' to device 7:0".
    static func subject(_ request: FilterRequest) -> String {
        let filter = "filter '\(request.filter)'"
        let device = request.device.map { "device \($0)" } ?? "no device"
        switch request.operation {
        case .listTypes: return "list the kernel's filter types"
        case .attach: return "attach \(filter) to \(device)"
        case .detach: return "detach \(filter) from \(device)"
        case .list: return "list the kernel's filter attachments"
        case .status: return "read the status of \(filter) on \(device)"
        case .message: return "send a message to \(filter) on \(device)"
        case .query: return "query \(filter) on \(device)"
        }
    }

    /// The error for `code` returned by the kernel for `request`; `dmVersion` is what the kernel
    /// wrote into the reply header, when it did.
    static func kernel(errno code: Int32, request: FilterRequest, dmVersion: String?) -> FilterControlError {
        let filter = "'\(request.filter)'"
        let device = request.device.map { "device \($0)" } ?? "the device"
        let kind: Kind
        let why: String
        switch code {
        case ENOTTY:
            kind = .ioctlUnavailable
            why =
                "this kernel's dm-mod has no filter IOCTL (dm \(dmVersion ?? "version unknown")); "
                + "load dmflt's dm-mod instead of the stock module (package dmflt-dkms, then reboot or "
                + "reload dm_mod; or scripts/kernel-build)"
        case EACCES, EPERM:
            kind = .permissionDenied
            why = "permission denied: dm ioctls need CAP_SYS_ADMIN (run dmfltd as root)"
        case EINVAL:
            kind = .invalid
            why =
                [.attach, .message, .query].contains(request.operation)
                ? "the kernel refused the request or the filter \(filter) refused its text as invalid"
                : "the kernel refused the request as malformed"
        case ENODEV:
            kind = .noSuchDevice
            why = "the kernel has no block device \(request.device.map(\.description) ?? "")"
        case ENOENT:
            kind = .noSuchFilterType
            why =
                "no filter type \(filter) is registered in the kernel; load its module (modprobe dm-flt-\(request.filter))"
        case EEXIST:
            kind = .alreadyAttached
            why = "filter \(filter) is already attached to \(device)"
        case ENXIO:
            kind = .notAttached
            why = "filter \(filter) is not attached to \(device)"
        case EBUSY:
            kind = .busy
            why = "\(device) is busy: its bio hook is owned by someone else or it is going away; retry later"
        default:
            kind = .system
            why = String(cString: strerror(code))
        }
        return FilterControlError(
            kind: kind, operation: request.operation.name, device: request.device,
            filter: request.filter.isEmpty ? nil : request.filter, errno: code,
            description: "cannot \(subject(request)): \(why) (\(errnoName(code)))")
    }
}
