// SharedBody: an immutable response body in memory of its own, which the HTTP layer sends without copying.
/// libmicrohttpd copies an ordinary body into the response it builds (a 361 KB list: a malloc and a
/// memcpy per request); a SharedBody is handed over by reference instead, retained until libmicrohttpd
/// has sent it and calls back. The bytes never change after `init`, so any number of responses may
/// send them at once.
public final class SharedBody: Sendable {
    nonisolated(unsafe) private let storage: UnsafeMutableRawBufferPointer

    public init(_ bytes: [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        self.storage = storage
        count = bytes.count
    }

    public let count: Int
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }

    deinit { storage.deallocate() }
}
