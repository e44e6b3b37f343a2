// DaemonLogHandler: dmfltd's log lines in StreamLogHandler's format, handed whole to a LogWriter.
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
/// goes whole into the LogWriter's ordered buffer, so lines from concurrent requests never
/// interleave and no serving thread makes a write(2) for its line. Everything that
/// comes from outside (message, metadata, source) goes through LogText, so one event stays one line.
/// Under journald (`syslogPrefix`) each line starts with its syslog priority, `<3>` for an error.
struct DaemonLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    let writer: LogWriter
    let syslogPrefix: Bool

    init(label: String, writer: LogWriter = .standardError, syslogPrefix: Bool = false) {
        self.label = label
        self.writer = writer
        self.syslogPrefix = syslogPrefix
        self.metadataProvider = LoggingSystem.metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // Built as bytes: the line goes into the writer's buffer as it is, with no String in between.
        var line: [UInt8] = []
        line.reserveCapacity(192)
        if syslogPrefix { line.append(contentsOf: event.level.syslogPrefix.utf8) }
        line.append(contentsOf: LogClock.shared.timestamp().utf8)
        line.append(0x20)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(0x20)
        line.append(contentsOf: label.utf8)
        line.append(UInt8(ascii: ":"))
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty { merged.merge(provided) { $1 } }
        if let explicit = event.metadata, !explicit.isEmpty {
            if merged.isEmpty { merged = explicit } else { merged.merge(explicit) { $1 } }
        }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        func field(_ key: String, _ value: Logger.MetadataValue) {
            line.append(0x20)
            LogText.append(key, to: &line)
            line.append(UInt8(ascii: "="))
            if case .string(let text) = value {
                LogText.append(text, to: &line)
            } else {
                LogText.append("\(value)", to: &line)
            }
        }
        if merged.count == 1, let (key, value) = merged.first {
            field(key, value)
        } else {
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) { field(key, value) }
        }
        line.append(contentsOf: " [".utf8)
        LogText.append(event.source, to: &line)
        line.append(contentsOf: "] ".utf8)
        LogText.append(event.message.description, to: &line)
        line.append(0x0A)
        writer.append(line, durable: event.level >= .error)
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
