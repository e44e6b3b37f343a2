// SyslogPriority: the syslog priority of each swift-log level, as the "<N>" prefix journald reads from a line.
import Logging

/// journald takes a leading `<N>` on a stream line as the line's priority (and strips it), so
/// `journalctl -p err` finds dmfltd's errors. swift-log has one level more than syslog's lowest
/// useful ones: trace and debug are both debug (7).
extension Logger.Level {
    var syslogPriority: Int {
        switch self {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    var syslogPrefix: String { "<\(syslogPriority)>" }
}
