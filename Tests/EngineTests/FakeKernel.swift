// FakeKernel: a test double of the dm control device that decodes requests and writes replies byte by byte.
import CDMFilter
import Foundation
import Synchronization

@testable import Engine

/// One request the fake saw, decoded with the C structs (not with the engine's encoder).
struct SeenRequest {
    var command: UInt
    var bufferSize: Int
    var header: dm_ioctl
    var message: dm_filter_msg
    var type: String
    var text: String?
    var name: [UInt8]
    var uuid: [UInt8]
}

/// Plays the kernel: `respond` gets each decoded request and the raw buffer, writes a reply and
/// returns 0 or an errno.
final class FakeKernel: DMControlTransport {
    typealias Responder = @Sendable (SeenRequest, UnsafeMutableRawBufferPointer) -> Int32

    private let state = Mutex<(requests: [SeenRequest], reopens: Int)>(([], 0))
    private let respond: Responder

    init(_ respond: @escaping Responder) {
        self.respond = respond
    }

    var requests: [SeenRequest] { state.withLock { $0.requests } }
    var reopens: Int { state.withLock { $0.reopens } }

    func ioctl(_ command: UInt, _ buffer: UnsafeMutableRawBufferPointer) throws(ControlDeviceError) -> Int32 {
        let request = Self.decode(command, UnsafeRawBufferPointer(buffer))
        state.withLock { $0.requests.append(request) }
        return respond(request, buffer)
    }

    func reopenOnNextUse() { state.withLock { $0.reopens += 1 } }

    static func decode(_ command: UInt, _ raw: UnsafeRawBufferPointer) -> SeenRequest {
        let header = raw.loadUnaligned(as: dm_ioctl.self)
        let start = Int(header.data_start)
        let message = raw.loadUnaligned(fromByteOffset: start, as: dm_filter_msg.self)
        let typeOffset = start + MemoryLayout<dm_filter_msg>.offset(of: \.type)!
        let typeBytes = Array(raw[typeOffset..<typeOffset + Int(DM_FILTER_NAME_LEN)])
        let type = String(decoding: typeBytes.prefix { $0 != 0 }, as: UTF8.self)
        var text: String?
        if message.text_len > 0 {
            let textStart = start + MemoryLayout<dm_filter_msg>.size
            let bytes = Array(raw[textStart..<textStart + Int(message.text_len)])
            text = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        let nameOffset = MemoryLayout<dm_ioctl>.offset(of: \.name)!
        let uuidOffset = MemoryLayout<dm_ioctl>.offset(of: \.uuid)!
        return SeenRequest(
            command: command, bufferSize: raw.count, header: header, message: message, type: type, text: text,
            name: Array(raw[nameOffset..<nameOffset + 128]), uuid: Array(raw[uuidOffset..<uuidOffset + 129]))
    }
}

/// Writes kernel replies into a request buffer the way dm-mod does.
enum KernelReply {
    static func setDriverVersion(_ buffer: UnsafeMutableRawBufferPointer, _ v: (UInt32, UInt32, UInt32)) {
        var header = buffer.loadUnaligned(as: dm_ioctl.self)
        header.version = v
        buffer.storeBytes(of: header, toByteOffset: 0, as: dm_ioctl.self)
    }

    /// A reply header at data_start followed by `payload`; sets DM_BUFFER_FULL_FLAG (header only,
    /// data_len = bytes needed) when the payload does not fit, like the kernel.
    @discardableResult
    static func write(
        _ buffer: UnsafeMutableRawBufferPointer, op: UInt32, count: Int, payload: [UInt8], flags: UInt32 = 0,
        magic: UInt32 = DM_FILTER_MAGIC, abi: UInt32 = DM_FILTER_ABI_VERSION
    ) -> Bool {
        var header = buffer.loadUnaligned(as: dm_ioctl.self)
        let start = Int(header.data_start)
        let payloadStart = start + MemoryLayout<dm_filter_reply>.size
        let fits = payloadStart + payload.count <= buffer.count
        var reply = dm_filter_reply()
        reply.magic = magic
        reply.abi_version = abi
        reply.op = op
        reply.count = fits ? UInt32(count) : 0
        reply.data_len = UInt32(payload.count)
        reply.flags = flags
        buffer.storeBytes(of: reply, toByteOffset: start, as: dm_filter_reply.self)
        if fits {
            buffer.baseAddress!.advanced(by: payloadStart).copyMemory(from: payload, byteCount: payload.count)
            header.flags &= ~UInt32(DM_BUFFER_FULL_FLAG)
            header.data_size = UInt32(payloadStart + payload.count)
        } else {
            header.flags |= UInt32(DM_BUFFER_FULL_FLAG)
            header.data_size = UInt32(payloadStart)
        }
        buffer.storeBytes(of: header, toByteOffset: 0, as: dm_ioctl.self)
        return fits
    }

    static func bytes<T>(of value: T) -> [UInt8] { withUnsafeBytes(of: value) { Array($0) } }

    static func fixedName(_ name: String, into bytes: inout [UInt8], at offset: Int) {
        for (index, byte) in name.utf8.enumerated() { bytes[offset + index] = byte }
    }

    static func typeInfo(_ name: String, _ version: (UInt32, UInt32, UInt32), attachments: UInt32) -> [UInt8] {
        var info = dm_filter_type_info()
        info.version = version
        info.attachments = attachments
        var raw = bytes(of: info)
        fixedName(name, into: &raw, at: MemoryLayout<dm_filter_type_info>.offset(of: \.name)!)
        return raw
    }

    static func attachmentInfo(dev: DeviceNumber, type: String, attachedNs: UInt64) -> [UInt8] {
        var info = dm_filter_attachment_info()
        info.dev = dev.encoded
        info.attached_ns = attachedNs
        var raw = bytes(of: info)
        fixedName(type, into: &raw, at: MemoryLayout<dm_filter_attachment_info>.offset(of: \.type)!)
        return raw
    }
}
