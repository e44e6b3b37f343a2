// ServiceNotifier: sends ServiceNotifications to $NOTIFY_SOCKET, or nothing when no service manager asked for them.
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify(3) without libsystemd: one AF_UNIX datagram per message, on a socket made for it. A
/// manager that is gone or slow never stops the daemon: the send does not block, and a failure is a
/// warning in the log.
struct ServiceNotifier: Sendable {
    let address: NotifySocketAddress?
    var logger = Logger(label: "dmflt.daemon")

    init(environment: [String: String]) {
        address = environment["NOTIFY_SOCKET"].flatMap(NotifySocketAddress.init)
        if let value = environment["NOTIFY_SOCKET"], address == nil {
            logger.warning("NOTIFY_SOCKET '\(value)' is not an absolute path or an '@' name; not notifying")
        }
    }

    init(address: NotifySocketAddress?) {
        self.address = address
    }

    /// Sends `message`; false when it could not be (or there is nowhere to send it).
    @discardableResult
    func send(_ message: ServiceNotification) -> Bool {
        guard let address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            logger.warning("cannot notify the service manager: socket: \(String(cString: strerror(errno)))")
            return false
        }
        defer { close(fd) }
        let bytes = Array(message.text.utf8)
        var sent: Int
        repeat {
            sent = address.withSockaddr { sockaddr, length in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), sockaddr, length)
                }
            }
        } while sent < 0 && errno == EINTR
        guard sent == bytes.count else {
            logger.warning("cannot notify the service manager: \(String(cString: strerror(errno)))")
            return false
        }
        return true
    }
}
