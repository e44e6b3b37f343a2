// FilterControlTests: DMFilterControl's requests and reply parsing against a fake kernel — encoding, retries, malformed replies.
import CDMFilter
import Foundation
import Synchronization
import Testing

@testable import Engine

@Suite struct FilterControlTests {
    let loop0 = DeviceNumber(major: 7, minor: 0)

    private func control(_ respond: @escaping FakeKernel.Responder) -> (DMFilterControl, FakeKernel) {
        let kernel = FakeKernel(respond)
        return (DMFilterControl(transport: kernel), kernel)
    }

    @Test func requestCarriesTheStandardHeaderAndTheFilterMessage() throws {
        let (control, kernel) = control { request, buffer in
            KernelReply.write(buffer, op: request.message.op, count: 0, payload: [])
            return 0
        }
        try control.attach(device: DeviceNumber(major: 259, minor: 1_048_575), filter: "stat", options: "a=1 b=2")
        let seen = try #require(kernel.requests.first)
        #expect(seen.command == cdmf_ioctl_dev_filter())
        #expect(seen.header.version == (4, 0, 0))
        #expect(seen.header.data_start == 312)
        #expect(Int(seen.header.data_size) == seen.bufferSize)
        #expect(seen.header.flags == 0)
        #expect(seen.name.allSatisfy { $0 == 0 } && seen.uuid.allSatisfy { $0 == 0 })
        #expect(seen.message.magic == DM_FILTER_MAGIC)
        #expect(seen.message.abi_version == DM_FILTER_ABI_VERSION)
        #expect(seen.message.op == DM_FILTER_OP_ATTACH.rawValue)
        #expect(seen.message.flags == 0 && seen.message.reserved == 0)
        #expect(seen.message.dev == DeviceNumber(major: 259, minor: 1_048_575).encoded)
        #expect(seen.type == "stat")
        #expect(seen.message.text_len == 8)  // "a=1 b=2" and its NUL
        #expect(seen.text == "a=1 b=2")
    }

    @Test func attachWithoutOptionsSendsNoText() throws {
        let (control, kernel) = control { request, buffer in
            KernelReply.write(buffer, op: request.message.op, count: 0, payload: [])
            return 0
        }
        try control.attach(device: loop0, filter: "stat", options: "")
        #expect(kernel.requests.first?.message.text_len == 0)
    }

    @Test func listTypesDecodesEveryRecord() throws {
        let (control, _) = control { request, buffer in
            let payload =
                KernelReply.typeInfo("stat", (1, 2, 3), attachments: 4)
                + KernelReply.typeInfo("guard", (0, 1, 0), attachments: 0)
            KernelReply.write(buffer, op: request.message.op, count: 2, payload: payload)
            return 0
        }
        let types = try control.listTypes()
        #expect(
            types == [
                KernelFilterType(name: "stat", version: [1, 2, 3], attachments: 4),
                KernelFilterType(name: "guard", version: [0, 1, 0], attachments: 0),
            ])
    }

    @Test func bufferFullIsRetriedWithTheSizeTheKernelAsksFor() throws {
        let records = 1000  // 56 KiB of records: more than the first buffer
        let (control, kernel) = control { request, buffer in
            var payload: [UInt8] = []
            for minor in 0..<records {
                payload += KernelReply.attachmentInfo(
                    dev: DeviceNumber(major: 7, minor: UInt32(minor)), type: "stat",
                    attachedNs: 1_700_000_000_000_000_000)
            }
            KernelReply.write(buffer, op: request.message.op, count: records, payload: payload)
            return 0
        }
        let attachments = try control.listAttachments()
        #expect(attachments.count == records)
        #expect(attachments.last?.device == DeviceNumber(major: 7, minor: 999))
        #expect(attachments.first?.attachedAt == Date(timeIntervalSince1970: 1_700_000_000))
        let sizes = kernel.requests.map(\.bufferSize)
        #expect(sizes.count == 2)
        #expect(sizes[1] >= 312 + 24 + records * 56)
    }

    @Test func eintrIsRetriedAndOtherwiseInvisible() throws {
        let interrupted = Mutex(2)
        let (control, kernel) = control { request, buffer in
            if interrupted.withLock({ left in
                defer { left -= 1 }
                return left > 0
            }) {
                return EINTR
            }
            KernelReply.write(buffer, op: request.message.op, count: 0, payload: [])
            return 0
        }
        try control.detach(device: loop0, filter: "stat")
        #expect(kernel.requests.count == 3)
    }

    /// ABI 2: the status is the attachment and the type's text, of any length (no counters struct).
    @Test func statusDecodesTheAttachmentAndTextOfAnyLength() throws {
        let long = (0..<1000).map { "word\($0)=\($0)" }.joined(separator: " ")
        let (control, kernel) = control { request, buffer in
            var status = dm_filter_status()
            let text = Array(long.utf8) + [0]
            status.status_len = UInt32(text.count)
            var raw = KernelReply.bytes(of: status)
            let info = KernelReply.attachmentInfo(dev: DeviceNumber(major: 7, minor: 0), type: "stat", attachedNs: 5)
            raw.replaceSubrange(0..<info.count, with: info)
            KernelReply.write(buffer, op: request.message.op, count: 1, payload: raw + text)
            return 0
        }
        let status = try control.status(device: loop0, filter: "stat")
        #expect(kernel.requests.first?.message.op == DM_FILTER_OP_STATUS.rawValue)
        #expect(status.attachment.device == loop0)
        #expect(status.attachment.filter == "stat")
        #expect(status.text == long)
        #expect(status.text.utf8.count > Int(DM_FILTER_TEXT_MAX))
    }

    @Test func querySendsItsWordsAndReturnsTheRecords() throws {
        let records: [UInt8] = Array(0..<48)
        let (control, kernel) = control { request, buffer in
            KernelReply.write(buffer, op: request.message.op, count: 3, payload: records)
            return 0
        }
        let reply = try control.query(device: loop0, filter: "guard", text: "events 17")
        #expect(kernel.requests.first?.message.op == DM_FILTER_OP_QUERY.rawValue)
        #expect(kernel.requests.first?.text == "events 17")
        #expect(reply == KernelQueryReply(count: 3, payload: records))
    }

    @Test func messageSendsTheTextAndReturnsTheReply() throws {
        let (control, kernel) = control { request, buffer in
            KernelReply.write(buffer, op: request.message.op, count: 0, payload: Array("ok 42".utf8) + [0])
            return 0
        }
        #expect(try control.message(device: loop0, filter: "cbt", text: "read-map") == "ok 42")
        #expect(kernel.requests.first?.text == "read-map")
        #expect(kernel.requests.first?.type == "cbt")
    }

    @Test func aReplyWithoutTheMagicIsForeignAndDropsTheDescriptor() {
        let (control, kernel) = control { request, buffer in
            KernelReply.write(buffer, op: request.message.op, count: 0, payload: [], magic: 0)
            return 0
        }
        #expect {
            _ = try control.listTypes()
        } throws: { error in
            let error = error as! FilterControlError
            return error.kind == .foreignReply && error.operation == "list-types"
                && error.description.contains("DM_FILTER_MAGIC") && error.description.contains("18")
        }
        #expect(kernel.reopens == 1)
    }

    @Test func malformedRepliesAreRefusedNotTrusted() {
        let cases: [(String, FakeKernel.Responder)] = [
            (
                "another ABI version",
                { request, buffer in
                    KernelReply.write(buffer, op: request.message.op, count: 0, payload: [], abi: 1)
                    return 0
                }
            ),
            (
                "count larger than the data",
                { request, buffer in
                    KernelReply.write(
                        buffer, op: request.message.op, count: 3,
                        payload: KernelReply.typeInfo("stat", (1, 0, 0), attachments: 0))
                    return 0
                }
            ),
            (
                "unterminated type name",
                { request, buffer in
                    KernelReply.write(
                        buffer, op: request.message.op, count: 1,
                        payload: KernelReply.typeInfo(String(repeating: "x", count: 32), (1, 0, 0), attachments: 0))
                    return 0
                }
            ),
            (
                "answer to another operation",
                { request, buffer in
                    KernelReply.write(buffer, op: DM_FILTER_OP_LIST.rawValue, count: 0, payload: [])
                    return 0
                }
            ),
        ]
        for (name, respond) in cases {
            let (control, _) = control(respond)
            #expect(throws: FilterControlError.self, "\(name)") { _ = try control.listTypes() }
            do {
                _ = try control.listTypes()
            } catch {
                #expect(error.kind == .foreignReply, "\(name)")
            }
        }
    }

    @Test func aKernelAskingForAnAbsurdBufferIsRefused() {
        let (control, kernel) = control { request, buffer in
            var header = buffer.loadUnaligned(as: dm_ioctl.self)
            header.flags |= UInt32(DM_BUFFER_FULL_FLAG)
            buffer.storeBytes(of: header, toByteOffset: 0, as: dm_ioctl.self)
            var reply = dm_filter_reply()
            reply.magic = DM_FILTER_MAGIC
            reply.abi_version = DM_FILTER_ABI_VERSION
            reply.op = request.message.op
            reply.data_len = UInt32.max
            buffer.storeBytes(of: reply, toByteOffset: Int(header.data_start), as: dm_filter_reply.self)
            return 0
        }
        #expect(throws: FilterControlError.self) { _ = try control.listAttachments() }
        #expect(kernel.requests.count == 1)
    }

    @Test func unsendableRequestsNeverReachTheKernel() {
        let (control, kernel) = control { _, _ in 0 }
        let long = String(repeating: "n", count: 32)
        #expect {
            try control.attach(device: loop0, filter: long, options: "")
        } throws: { ($0 as! FilterControlError).kind == .invalid }
        #expect {
            try control.attach(device: loop0, filter: "stat", options: String(repeating: "o", count: 4096))
        } throws: { ($0 as! FilterControlError).kind == .invalid }
        #expect {
            _ = try control.message(device: loop0, filter: "stat", text: "a\0b")
        } throws: { ($0 as! FilterControlError).kind == .invalid }
        #expect(kernel.requests.isEmpty)
    }
}
