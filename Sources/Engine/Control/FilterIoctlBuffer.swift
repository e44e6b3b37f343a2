// FilterIoctlBuffer: the dm filter IOCTL's bytes — request encoding and reply decoding, the one file that knows the layout.
import CDMFilter
import Foundation

/// The operations of the dm filter ABI (`enum dm_filter_op`).
enum FilterOperation: UInt32, Sendable, CaseIterable {
    case listTypes = 1
    case attach = 2
    case detach = 3
    case list = 4
    case status = 5
    case message = 6
    case query = 7

    /// The name `FilterControlError.operation` carries.
    var name: String {
        switch self {
        case .listTypes: "list-types"
        case .attach: "attach"
        case .detach: "detach"
        case .list: "list"
        case .status: "status"
        case .message: "message"
        case .query: "query"
        }
    }
}

/// One request on the wire: the operation and its arguments.
struct FilterRequest: Sendable, Equatable {
    var operation: FilterOperation
    var device: DeviceNumber?
    var filter: String = ""
    var text: String?
}

/// Why bytes could not be encoded or decoded; DMFilterControl turns it into a FilterControlError.
enum FilterWireError: Error, Equatable {
    /// The request itself is unsendable (name too long, text too long or with NUL bytes).
    case badRequest(String)
    /// The reply does not carry the filter ABI's magic: the command means something else here.
    case foreign(String)
    /// The reply carries the magic but breaks the ABI (lengths, version, unterminated strings).
    case malformed(String)
}

/// What one successful ioctl answered.
enum FilterReplyOutcome: Equatable {
    /// DM_BUFFER_FULL_FLAG: retry with a buffer of at least this many bytes.
    case bufferFull(neededBytes: Int)
    case complete(FilterReply)
}

/// A complete reply: the header's fields and the bytes after it.
struct FilterReply: Equatable {
    var operation: UInt32
    var count: Int
    var flags: UInt32
    var payload: [UInt8]
}

/// A request buffer: struct dm_ioctl, then struct dm_filter_msg at data_start, then the text.
struct FilterIoctlBuffer {
    static let dmHeaderSize = MemoryLayout<dm_ioctl>.size
    /// dm aligns data_start to 8 bytes, like libdevmapper does.
    static let dataStart = (MemoryLayout<dm_ioctl>.size + 7) & ~7
    static let messageSize = MemoryLayout<dm_filter_msg>.size
    static let replySize = MemoryLayout<dm_filter_reply>.size
    static let nameCapacity = Int(DM_FILTER_NAME_LEN)
    static let textCapacity = Int(DM_FILTER_TEXT_MAX)
    static let magic = UInt32(DM_FILTER_MAGIC)
    static let abiVersion = UInt32(DM_FILTER_ABI_VERSION)
    /// The dm interface version a request claims: 4.0.0 is accepted by every dm-mod of major 4.
    static let requestVersion: (UInt32, UInt32, UInt32) = (4, 0, 0)
    static let bufferFullFlag = UInt32(DM_BUFFER_FULL_FLAG)

    /// The smallest buffer that holds this request and a reply header.
    static func minimumSize(for request: FilterRequest) -> Int {
        dataStart + max(messageSize + textLength(request), replySize)
    }

    private static func textLength(_ request: FilterRequest) -> Int {
        request.text.map { $0.utf8.count + 1 } ?? 0
    }

    var bytes: [UInt8]

    /// Encodes `request` into a buffer of at least `capacity` bytes.
    init(request: FilterRequest, capacity: Int) throws(FilterWireError) {
        let name = Array(request.filter.utf8)
        guard name.count < Self.nameCapacity else {
            throw .badRequest("filter type name '\(request.filter)' is longer than \(Self.nameCapacity - 1) bytes")
        }
        guard !name.contains(0) else { throw .badRequest("filter type name contains a NUL byte") }
        let text = request.text.map { Array($0.utf8) }
        if let text {
            guard text.count < Self.textCapacity else {
                throw .badRequest("text is \(text.count) bytes; the ABI allows at most \(Self.textCapacity - 1)")
            }
            guard !text.contains(0) else { throw .badRequest("text contains a NUL byte") }
        }
        let size = max(capacity, Self.minimumSize(for: request))
        bytes = [UInt8](repeating: 0, count: size)

        var header = dm_ioctl()
        header.version = (Self.requestVersion.0, Self.requestVersion.1, Self.requestVersion.2)
        header.data_size = UInt32(size)
        header.data_start = UInt32(Self.dataStart)
        var message = dm_filter_msg()
        message.magic = Self.magic
        message.abi_version = Self.abiVersion
        message.op = request.operation.rawValue
        message.dev = request.device?.encoded ?? 0
        message.text_len = UInt32(Self.textLength(request))
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: header, toByteOffset: 0, as: dm_ioctl.self)
            raw.storeBytes(of: message, toByteOffset: Self.dataStart, as: dm_filter_msg.self)
            let typeOffset = Self.dataStart + MemoryLayout<dm_filter_msg>.offset(of: \.type)!
            raw.baseAddress!.advanced(by: typeOffset).copyMemory(from: name, byteCount: name.count)
            if let text {
                let textOffset = Self.dataStart + Self.messageSize
                raw.baseAddress!.advanced(by: textOffset).copyMemory(from: text, byteCount: text.count)
            }
        }
    }

    /// The dm interface version the kernel wrote back into the header (it does so even when it
    /// refuses the command), or nil when the header still holds what the request sent.
    var driverVersion: String? {
        let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: dm_ioctl.self) }
        let version = [header.version.0, header.version.1, header.version.2]
        guard version != [Self.requestVersion.0, Self.requestVersion.1, Self.requestVersion.2] else { return nil }
        return version.map(String.init).joined(separator: ".")
    }

    /// Decodes what the kernel wrote after a successful ioctl of `operation`.
    func reply(to operation: FilterOperation) throws(FilterWireError) -> FilterReplyOutcome {
        let header = bytes.withUnsafeBytes { $0.loadUnaligned(as: dm_ioctl.self) }
        let start = Int(header.data_start)
        guard start >= Self.dmHeaderSize, start + Self.replySize <= bytes.count else {
            throw .foreign("the reply's data_start \(start) leaves no room for a dm filter reply")
        }
        let reply = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start, as: dm_filter_reply.self) }
        guard reply.magic == Self.magic else {
            throw .foreign(String(format: "the reply carries magic 0x%08x instead of DM_FILTER_MAGIC", reply.magic))
        }
        guard reply.abi_version == Self.abiVersion else {
            throw .malformed(
                "the kernel speaks dm filter ABI version \(reply.abi_version), dmflt speaks \(Self.abiVersion)")
        }
        guard reply.op == operation.rawValue else {
            throw .malformed("the reply answers operation \(reply.op), not \(operation.rawValue)")
        }
        let payloadStart = start + Self.replySize
        let dataLength = Int(reply.data_len)
        if header.flags & Self.bufferFullFlag != 0 {
            guard payloadStart + dataLength > bytes.count else {
                throw .malformed(
                    "the kernel reports a full buffer but needs only \(dataLength) bytes of \(bytes.count)")
            }
            return .bufferFull(neededBytes: payloadStart + dataLength)
        }
        guard payloadStart + dataLength <= bytes.count else {
            throw .malformed(
                "the reply claims \(dataLength) bytes of data but the buffer holds \(bytes.count - payloadStart)")
        }
        return .complete(
            FilterReply(
                operation: reply.op, count: Int(reply.count), flags: reply.flags,
                payload: Array(bytes[payloadStart..<payloadStart + dataLength])))
    }
}

// Record decoding: every read is bounds-checked against the payload, never trusted from counts alone.
extension FilterReply {
    private func records<Record>(of type: Record.Type) throws(FilterWireError) -> [Record] {
        let size = MemoryLayout<Record>.size
        guard count >= 0, count <= payload.count / size else {
            throw .malformed("the reply claims \(count) records of \(size) bytes in \(payload.count) bytes of data")
        }
        return payload.withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * size, as: Record.self) }
        }
    }

    /// A NUL-terminated string in a fixed-size char array, starting at `offset` of `bytes`.
    private static func cString(_ bytes: some Collection<UInt8>, field: String) throws(FilterWireError) -> String {
        guard let end = bytes.firstIndex(of: 0) else { throw .malformed("\(field) is not NUL-terminated") }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    private static func name<T>(of value: T, at keyPath: PartialKeyPath<T>, length: Int, field: String)
        throws(FilterWireError) -> String
    {
        let offset = MemoryLayout<T>.offset(of: keyPath)!
        let bytes = withUnsafeBytes(of: value) { Array($0[offset..<offset + length]) }
        return try cString(bytes, field: field)
    }

    func filterTypes() throws(FilterWireError) -> [KernelFilterType] {
        var result: [KernelFilterType] = []
        for info in try records(of: dm_filter_type_info.self) {
            let name = try Self.name(
                of: info, at: \dm_filter_type_info.name, length: FilterIoctlBuffer.nameCapacity, field: "type name")
            result.append(
                KernelFilterType(
                    name: name, version: [info.version.0, info.version.1, info.version.2],
                    attachments: Int(info.attachments)))
        }
        return result
    }

    private static func attachment(_ info: dm_filter_attachment_info) throws(FilterWireError) -> KernelAttachment {
        let filter = try name(
            of: info, at: \dm_filter_attachment_info.type, length: FilterIoctlBuffer.nameCapacity,
            field: "attachment type")
        return KernelAttachment(
            device: DeviceNumber(encoded: info.dev), filter: filter,
            attachedAt: Date(timeIntervalSince1970: Double(info.attached_ns) / 1e9))
    }

    func attachments() throws(FilterWireError) -> [KernelAttachment] {
        var result: [KernelAttachment] = []
        for info in try records(of: dm_filter_attachment_info.self) {
            result.append(try Self.attachment(info))
        }
        return result
    }

    func status() throws(FilterWireError) -> KernelAttachmentStatus {
        let fixed = MemoryLayout<dm_filter_status>.size
        guard count == 1, payload.count >= fixed else {
            throw .malformed("a status reply needs 1 record of \(fixed) bytes, got \(count) in \(payload.count) bytes")
        }
        let status = payload.withUnsafeBytes { $0.loadUnaligned(as: dm_filter_status.self) }
        let textLength = Int(status.status_len)
        guard textLength <= payload.count - fixed else {
            throw .malformed("the status text claims \(textLength) bytes but \(payload.count - fixed) follow")
        }
        let text = textLength == 0 ? "" : try Self.cString(payload[fixed..<fixed + textLength], field: "status text")
        return KernelAttachmentStatus(attachment: try Self.attachment(status.attachment), text: text)
    }

    func queryReply() -> KernelQueryReply { KernelQueryReply(count: count, payload: payload) }

    func messageText() throws(FilterWireError) -> String {
        payload.isEmpty ? "" : try Self.cString(payload, field: "message reply")
    }
}
