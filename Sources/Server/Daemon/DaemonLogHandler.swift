// DaemonLogHandler: dmfltd's log lines on standard error, one write(2) each, in StreamLogHandler's format.
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Writes `TIMESTAMP LEVEL LABEL: METADATA [SOURCE] MESSAGE` lines, the format swift-log's
/// StreamLogHandler uses, without its two per-line costs on Linux: `localtime()` rereads
/// /etc/localtime on every call (and takes glibc's time zone lock), and stdio's stream lock made the
/// pool threads queue on each other. Here the timestamp is formatted once per second and each line
/// is a single `write(2)`, so lines from concurrent requests never interleave. Everything that
/// comes from outside (message, metadata, source) goes through LogText, so one event stays one line.
struct DaemonLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let descriptor: Int32

    init(label: String, descriptor: Int32 = STDERR_FILENO) {
        self.label = label
        self.descriptor = descriptor
        self.metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = LogClock.shared.timestamp()
        line.reserveCapacity(160)
        line += " "
        line += event.level.rawValue
        line += " "
        line += label
        line += ":"
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let explicit = event.metadata, !explicit.isEmpty {
            if merged.isEmpty { merged = explicit } else { merged.merge(explicit) { $1 } }
        }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        if merged.count == 1, let (key, value) = merged.first {
            line += " \(LogText.escaped(key))=\(LogText.escaped("\(value)"))"
        } else {
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                line += " \(LogText.escaped(key))=\(LogText.escaped("\(value)"))"
            }
        }
        line += " ["
        line += LogText.escaped(event.source)
        line += "] "
        line += LogText.escaped(event.message.description)
        line += "\n"
        Self.writeAll(line, to: descriptor)
    }

    /// One `write(2)` for the whole line (retried only for what a short write left).
    static func writeAll(_ line: String, to fd: Int32) {
        var line = line
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }
}

/// The local time as `2026-11-24T23:45:41+0000`, formatted at most once per second. `localtime_r`
/// reads the time zone once per process (a daemon keeps the zone it started with).
final class LogClock: Sendable {
    static let shared = LogClock()
    private let last = Mutex<(second: Int, text: String)>((-1, ""))

    func timestamp() -> String {
        let now = time(nil)
        if let cached = last.withLock({ $0.second == now ? $0.text : nil }) { return cached }
        var t = now
        var parts = tm()
        var buffer = [CChar](repeating: 0, count: 64)
        guard localtime_r(&t, &parts) != nil, strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts) > 0
        else { return "\(now)" }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        last.withLock { $0 = (now, text) }
        return text
    }
}
