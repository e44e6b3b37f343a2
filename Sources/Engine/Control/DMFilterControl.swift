// DMFilterControl: the real FilterControl — issues the dm filter IOCTL on /dev/mapper/control.
import CDMFilter
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The kernel's dm filter IOCTL. Opens the control device on first use and again after a
/// failure, so a daemon started before dm-mod was loaded works once it is.
public final class DMFilterControl: FilterControl {
    private let transport: any DMControlTransport
    private let initialBufferSize: Int
    /// Room for ~300 attachment records before the first buffer-full retry.
    static let initialBufferSize = 16 * 1024
    /// A kernel asking for more than this is answering something else.
    static let maximumBufferSize = 16 * 1024 * 1024

    public convenience init(controlPath: String = "/dev/mapper/control") {
        self.init(transport: ControlDevice(path: controlPath))
    }

    /// `initialBufferSize` below a reply's size makes every call take the buffer-full path; tests
    /// use that to check the retry against the real kernel.
    init(transport: any DMControlTransport, initialBufferSize: Int = DMFilterControl.initialBufferSize) {
        self.transport = transport
        self.initialBufferSize = initialBufferSize
    }

    public func listTypes() throws(FilterControlError) -> [KernelFilterType] {
        let request = FilterRequest(operation: .listTypes)
        return try decode(request) { reply throws(FilterWireError) in try reply.filterTypes() }
    }

    public func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError) {
        let request = FilterRequest(
            operation: .attach, device: device, filter: filter, text: options.isEmpty ? nil : options)
        _ = try perform(request)
    }

    public func detach(device: DeviceNumber, filter: String) throws(FilterControlError) {
        _ = try perform(FilterRequest(operation: .detach, device: device, filter: filter))
    }

    public func listAttachments() throws(FilterControlError) -> [KernelAttachment] {
        let request = FilterRequest(operation: .list)
        return try decode(request) { reply throws(FilterWireError) in try reply.attachments() }
    }

    public func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus {
        let request = FilterRequest(operation: .status, device: device, filter: filter)
        return try decode(request) { reply throws(FilterWireError) in try reply.status() }
    }

    public func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String {
        let request = FilterRequest(operation: .message, device: device, filter: filter, text: text)
        return try decode(request) { reply throws(FilterWireError) in try reply.messageText() }
    }

    public func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError)
        -> KernelQueryReply
    {
        let request = FilterRequest(operation: .query, device: device, filter: filter, text: text)
        return try perform(request).queryReply()
    }

    private func decode<T>(_ request: FilterRequest, _ body: (FilterReply) throws(FilterWireError) -> T)
        throws(FilterControlError) -> T
    {
        let reply = try perform(request)
        do {
            return try body(reply)
        } catch {
            throw wireError(error, request)
        }
    }

    /// Issues `request`, retrying on EINTR and growing the buffer while the kernel reports it full.
    func perform(_ request: FilterRequest) throws(FilterControlError) -> FilterReply {
        var capacity = initialBufferSize
        let command = UInt(cdmf_ioctl_dev_filter())
        while true {
            var buffer: FilterIoctlBuffer
            do {
                buffer = try FilterIoctlBuffer(request: request, capacity: capacity)
            } catch {
                throw wireError(error, request)
            }
            var code: Int32
            repeat {
                let result = buffer.bytes.withUnsafeMutableBytes { raw in
                    Result { () throws(ControlDeviceError) -> Int32 in try transport.ioctl(command, raw) }
                }
                switch result {
                case .success(let value):
                    code = value
                case .failure(let error):
                    throw FilterControlError(
                        kind: error.kind, operation: request.operation.name, device: request.device,
                        filter: request.filter.isEmpty ? nil : request.filter, errno: error.errno,
                        description: "cannot \(FilterControlError.subject(request)): \(error.reason)")
                }
            } while code == EINTR
            if code != 0 {
                if code == ENOTTY { transport.reopenOnNextUse() }
                throw FilterControlError.kernel(errno: code, request: request, dmVersion: buffer.driverVersion)
            }
            let outcome: FilterReplyOutcome
            do {
                outcome = try buffer.reply(to: request.operation)
            } catch {
                throw wireError(error, request)
            }
            switch outcome {
            case .complete(let reply):
                return reply
            case .bufferFull(let needed):
                guard needed <= Self.maximumBufferSize else {
                    throw wireError(
                        .malformed("the kernel asks for a \(needed)-byte buffer (limit \(Self.maximumBufferSize))"),
                        request)
                }
                capacity = max(needed, capacity * 2)
            }
        }
    }

    private func wireError(_ error: FilterWireError, _ request: FilterRequest) -> FilterControlError {
        let kind: FilterControlError.Kind
        let why: String
        switch error {
        case .badRequest(let reason):
            kind = .invalid
            why = reason
        case .foreign(let reason):
            transport.reopenOnNextUse()
            kind = .foreignReply
            why =
                "\(reason): dm command \(DM_DEV_FILTER_CMD) means something else in this kernel's dm-mod; "
                + "load dmflt's dm-mod build"
        case .malformed(let reason):
            kind = .foreignReply
            why = "malformed dm filter reply: \(reason)"
        }
        return FilterControlError(
            kind: kind, operation: request.operation.name, device: request.device,
            filter: request.filter.isEmpty ? nil : request.filter, errno: kind == .invalid ? EINVAL : 0,
            description: "cannot \(FilterControlError.subject(request)): \(why)")
    }
}
