// EngineBufferFullTests: the real kernel's DM_BUFFER_FULL_FLAG answer is retried with the size it asks for.
import Foundation
import Synchronization
import Testing

@testable import Engine

/// The real control device, with every ioctl's buffer size recorded.
private final class RecordingControlDevice: DMControlTransport {
    let device = ControlDevice(path: "/dev/mapper/control")
    let sizes = Mutex<[Int]>([])

    func ioctl(_ command: UInt, _ buffer: UnsafeMutableRawBufferPointer) throws(ControlDeviceError) -> Int32 {
        sizes.withLock { $0.append(buffer.count) }
        return try device.ioctl(command, buffer)
    }

    func reopenOnNextUse() { device.reopenOnNextUse() }
}

@Suite(.serialized) struct EngineBufferFullTests {
    @Test func tooSmallBuffersAreGrownUntilTheKernelsReplyFits() throws {
        try EngineVM.requireRoot()
        let loop = try EngineLoopDevice()
        defer { loop.remove() }
        let dev = try DeviceInventory().resolve(loop.path).dev
        let roomy = DMFilterControl()
        try roomy.attach(device: dev, filter: "stat", options: "")
        defer { try? roomy.detach(device: dev, filter: "stat") }
        try EngineVM.directWrites(to: loop.path, count: 3)

        // The smallest request buffer leaves 40 bytes for records: every reply below overflows it.
        let recorder = RecordingControlDevice()
        let tight = DMFilterControl(transport: recorder, initialBufferSize: 0)

        // Other suites attach and detach in parallel: compare what they cannot change.
        let names = try tight.listTypes().map(\.name)
        #expect(names == (try roomy.listTypes().map(\.name)))
        let mine = try tight.listAttachments().filter { $0.device == dev }
        let expected = try roomy.listAttachments().filter { $0.device == dev }
        #expect(mine.count == 1)
        #expect(mine == expected)
        let status = try tight.status(device: dev, filter: "stat")
        let counters = FilterCatalog.standard.status(filter: "stat", text: status.text).counters
        #expect(counters?.writeBios == 3)
        // udev may read the new loop device meanwhile: compare what reads cannot change.
        let again = try roomy.status(device: dev, filter: "stat")
        #expect(status.attachment == again.attachment)
        let againCounters = FilterCatalog.standard.status(filter: "stat", text: again.text).counters
        #expect(counters?.writeBytes == againCounters?.writeBytes)

        // Each operation: one ioctl answered "buffer full", one retry that fit.
        let sizes = recorder.sizes.withLock { $0 }
        #expect(sizes.count == 6, "\(sizes)")
        #expect(sizes.enumerated().allSatisfy { $0.offset % 2 == 0 ? $0.element == 376 : $0.element > 376 }, "\(sizes)")
    }
}
