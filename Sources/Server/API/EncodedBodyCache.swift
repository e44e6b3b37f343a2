// AttachmentListCache: the last encoded attachment list, reused while nothing it was made from has changed.
import Engine
import Synchronization

/// Everything a list is made from: the store's write generation, the block devices' names and the kernel's
/// attachments. Equal inputs give equal bytes, so a hit is never stale; any change is a miss.
struct AttachmentListKey: Equatable, Sendable {
    var generation: UInt64
    var devices: [DeviceNumber: DeviceLabel]
    var kernel: KernelView
}

/// Encoding 1,000 attachments costs milliseconds (row decoding and JSONEncoder); a poller or a
/// dashboard asking again with nothing changed gets the same bytes for the cost of the comparison.
final class AttachmentListCache: Sendable {
    private let last = Mutex<(key: AttachmentListKey, body: [UInt8])?>(nil)

    func body(for key: AttachmentListKey) -> [UInt8]? {
        last.withLock { $0?.key == key ? $0?.body : nil }
    }

    func store(_ body: [UInt8], for key: AttachmentListKey) {
        last.withLock { $0 = (key, body) }
    }
}
