// ServiceNotification: the sd_notify messages dmfltd sends its service manager, as the datagram text they travel as.
#if canImport(Glibc)
    import Glibc
#endif

/// systemd's notify protocol: newline-separated `KEY=VALUE` assignments in one datagram. A reload is
/// `RELOADING=1` with the CLOCK_MONOTONIC time it began (so systemd can tell it from an earlier one),
/// then `READY=1` when it is over, whether it worked or not: the daemon goes on serving either way.
enum ServiceNotification: Equatable, Sendable {
    case ready(status: String)
    case reloading(status: String, monotonicMicroseconds: UInt64)
    case stopping(status: String)

    var text: String {
        switch self {
        case .ready(let status):
            return "READY=1\nSTATUS=\(Self.oneLine(status))\n"
        case .reloading(let status, let usec):
            return "RELOADING=1\nMONOTONIC_USEC=\(usec)\nSTATUS=\(Self.oneLine(status))\n"
        case .stopping(let status):
            return "STOPPING=1\nSTATUS=\(Self.oneLine(status))\n"
        }
    }

    /// A reload beginning now.
    static func reloading(status: String) -> ServiceNotification {
        .reloading(status: status, monotonicMicroseconds: monotonicMicroseconds())
    }

    /// CLOCK_MONOTONIC in microseconds, the clock systemd compares MONOTONIC_USEC with.
    static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// A newline in a value would start a new assignment; STATUS is one line in `systemctl status`.
    /// Scalars, not Characters: "\r\n" is one Character, equal to neither.
    static func oneLine(_ value: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in value.unicodeScalars { scalars.append(scalar == "\n" || scalar == "\r" ? " " : scalar) }
        return String(scalars)
    }
}
