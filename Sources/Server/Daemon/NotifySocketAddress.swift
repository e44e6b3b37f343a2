// NotifySocketAddress: $NOTIFY_SOCKET as an AF_UNIX address, a file system path or an abstract name ('@...').
#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify(3) accepts an absolute path or, with a leading '@', a name in the abstract namespace,
/// whose first byte in `sun_path` is NUL and whose length is exactly what the name has (an abstract
/// name is not NUL-terminated: one more byte would be another name). Anything else (a relative
/// path, systemd's `vsock:` form) is refused and nothing is sent.
struct NotifySocketAddress: Equatable, Sendable {
    /// The bytes of `sun_path` that count: the path without its terminating NUL, or NUL + name.
    let path: [UInt8]

    init?(_ value: String) {
        let bytes = Array(value.utf8)
        guard bytes.count >= 2, !bytes.contains(0) else { return nil }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        switch bytes[0] {
        case UInt8(ascii: "/"):
            // A path keeps room for its terminating NUL.
            guard bytes.count < capacity else { return nil }
            path = bytes
        case UInt8(ascii: "@"):
            guard bytes.count <= capacity else { return nil }
            path = [0] + bytes.dropFirst()
        default:
            return nil
        }
    }

    var isAbstract: Bool { path.first == 0 }

    /// The address and the length to pass to sendto(2).
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path)
        }
        let length = MemoryLayout.offset(of: \sockaddr_un.sun_path)! + path.count + (isAbstract ? 0 : 1)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }
}
