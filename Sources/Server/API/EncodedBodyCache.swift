// EncodedBodyCache: the last encoded JSON body, reused while everything it was made from is equal.
import Engine
import Synchronization

/// Encoding is most of a small answer's cost (JSONEncoder) and milliseconds for 1,000 attachments;
/// a poller, a dashboard or a health check asking again with nothing changed gets the same bytes for
/// the cost of comparing the inputs. The key must hold everything the body is made from, so equal
/// keys give equal bytes and a hit is never stale; any change is a miss.
final class EncodedBodyCache<Key: Equatable & Sendable>: Sendable {
    /// One object, so a lookup takes one reference under the lock and compares the key outside it,
    /// instead of copying the key (every string and array in it) out of the lock.
    private final class Entry: Sendable {
        let key: Key
        let body: SharedBody
        init(key: Key, body: SharedBody) {
            self.key = key
            self.body = body
        }
    }
    private let last = Mutex<Entry?>(nil)

    func body(for key: Key) -> SharedBody? {
        guard let entry = last.withLock({ $0 }), entry.key == key else { return nil }
        return entry.body
    }

    func store(_ body: SharedBody, for key: Key) {
        let entry = Entry(key: key, body: body)
        last.withLock { $0 = entry }
    }

    /// The JSON answer for `key`: the cached bytes when the key is unchanged, else `encode(key)`'s.
    func response(for key: Key, encode: (Key) throws -> Response) rethrows -> Response {
        if let body = body(for: key) {
            return Response(
                status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]), body: .shared(body))
        }
        var response = try encode(key)
        if response.status == 200, case .bytes(let bytes) = response.body {
            let body = SharedBody(bytes)
            store(body, for: key)
            response.body = .shared(body)
        }
        return response
    }
}

/// What an attachment list shows of the host besides the store: its block devices' names and the
/// kernel's attachments.
struct ObservedForList: Sendable {
    var devices: [DeviceNumber: DeviceLabel]
    var kernel: KernelView
}

/// Everything an attachment list is made from: the store's write generation, the block devices'
/// names and the kernel's attachments.
struct AttachmentListKey: Equatable, Sendable {
    var generation: UInt64
    var devices: [DeviceNumber: DeviceLabel]
    var kernel: KernelView
}
