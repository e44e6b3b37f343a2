// ABILayoutTests: the dm filter IOCTL's byte layout as Swift sees it equals what the C compiler makes of the header.
import CDMFilter
import Foundation
import Testing

@testable import Engine

@Suite struct ABILayoutTests {
    private func field<T, V>(_ path: KeyPath<T, V>) -> (offset: Int, size: Int) {
        (MemoryLayout<T>.offset(of: path)!, MemoryLayout<V>.size)
    }

    private var swiftLayout: [String: (offset: Int, size: Int)] {
        [
            "dm_ioctl.version": field(\dm_ioctl.version), "dm_ioctl.data_size": field(\dm_ioctl.data_size),
            "dm_ioctl.data_start": field(\dm_ioctl.data_start), "dm_ioctl.target_count": field(\dm_ioctl.target_count),
            "dm_ioctl.open_count": field(\dm_ioctl.open_count), "dm_ioctl.flags": field(\dm_ioctl.flags),
            "dm_ioctl.event_nr": field(\dm_ioctl.event_nr), "dm_ioctl.dev": field(\dm_ioctl.dev),
            "dm_ioctl.name": field(\dm_ioctl.name), "dm_ioctl.uuid": field(\dm_ioctl.uuid),
            "dm_filter_msg.magic": field(\dm_filter_msg.magic),
            "dm_filter_msg.abi_version": field(\dm_filter_msg.abi_version),
            "dm_filter_msg.op": field(\dm_filter_msg.op), "dm_filter_msg.flags": field(\dm_filter_msg.flags),
            "dm_filter_msg.dev": field(\dm_filter_msg.dev), "dm_filter_msg.type": field(\dm_filter_msg.type),
            "dm_filter_msg.text_len": field(\dm_filter_msg.text_len),
            "dm_filter_msg.reserved": field(\dm_filter_msg.reserved),
            "dm_filter_reply.magic": field(\dm_filter_reply.magic),
            "dm_filter_reply.abi_version": field(\dm_filter_reply.abi_version),
            "dm_filter_reply.op": field(\dm_filter_reply.op), "dm_filter_reply.count": field(\dm_filter_reply.count),
            "dm_filter_reply.data_len": field(\dm_filter_reply.data_len),
            "dm_filter_reply.flags": field(\dm_filter_reply.flags),
            "dm_filter_type_info.name": field(\dm_filter_type_info.name),
            "dm_filter_type_info.version": field(\dm_filter_type_info.version),
            "dm_filter_type_info.attachments": field(\dm_filter_type_info.attachments),
            "dm_filter_attachment_info.dev": field(\dm_filter_attachment_info.dev),
            "dm_filter_attachment_info.type": field(\dm_filter_attachment_info.type),
            "dm_filter_attachment_info.attached_ns": field(\dm_filter_attachment_info.attached_ns),
            "dm_filter_attachment_info.flags": field(\dm_filter_attachment_info.flags),
            "dm_filter_attachment_info.reserved": field(\dm_filter_attachment_info.reserved),
            "dm_filter_status.attachment": field(\dm_filter_status.attachment),
            "dm_filter_status.status_len": field(\dm_filter_status.status_len),
            "dm_filter_status.reserved": field(\dm_filter_status.reserved),
        ]
    }

    @Test func everyMemberSitsWhereTheCCompilerPutsIt() {
        var count = 0
        let table = cdmf_abi_layout(&count)!
        #expect(count == swiftLayout.count)
        for entry in UnsafeBufferPointer(start: table, count: count) {
            let key = String(cString: entry.type) + "." + String(cString: entry.field)
            guard let swift = swiftLayout[key] else {
                Issue.record("the C layout has \(key) but the Swift check does not")
                continue
            }
            #expect(swift.offset == entry.offset, "offset of \(key)")
            #expect(swift.size == entry.size, "size of \(key)")
        }
    }

    @Test func structSizesMatchTheCCompilerAndThePinnedABI() {
        // The pinned numbers are the ABI version 2 the kernel module speaks; a change breaks it.
        let sizes: [(String, Int, Int)] = [
            ("dm_ioctl", MemoryLayout<dm_ioctl>.size, 312),
            ("dm_filter_msg", MemoryLayout<dm_filter_msg>.size, 64),
            ("dm_filter_reply", MemoryLayout<dm_filter_reply>.size, 24),
            ("dm_filter_type_info", MemoryLayout<dm_filter_type_info>.size, 48),
            ("dm_filter_attachment_info", MemoryLayout<dm_filter_attachment_info>.size, 56),
            ("dm_filter_status", MemoryLayout<dm_filter_status>.size, 64),
        ]
        for (name, swift, pinned) in sizes {
            #expect(swift == cdmf_abi_sizeof(name), "\(name) in Swift vs C")
            #expect(swift == pinned, "\(name) vs ABI version 2")
        }
        #expect(DM_FILTER_ABI_VERSION == 2)
    }

    @Test func dataStartIsTheAlignedHeaderSize() {
        #expect(FilterIoctlBuffer.dataStart == 312)
        #expect(FilterIoctlBuffer.dataStart % 8 == 0)
    }

    @Test func ioctlNumbersAreDmsIOWRForm() {
        // _IOWR(0xfd, nr, struct dm_ioctl) = dir 3 << 30 | size 312 << 16 | type 0xfd << 8 | nr
        #expect(cdmf_ioctl_dev_filter() == 0xC138_FD12)
        #expect(cdmf_ioctl_version() == 0xC138_FD00)
    }
}
