// TemporaryLogFile: a log file opened as dmfltd's would be (O_APPEND), with the LogWriter that writes it, removed at the end.
import Foundation
import Logging

@testable import dmfltd

final class TemporaryLogFile {
    let path = NSTemporaryDirectory() + "dmflt-log-\(UUID().uuidString)"
    let descriptor: Int32
    let writer: LogWriter

    init() {
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        precondition(descriptor >= 0, "cannot create \(path)")
        writer = LogWriter(descriptor: descriptor)
    }

    /// A logger writing dmfltd's lines into this file.
    func logger(_ label: String) -> Logger {
        Logger(label: label) { [writer] in DaemonLogHandler(label: $0, writer: writer) }
    }

    /// What the file holds now, without waiting for lines still in the writer's buffer.
    func onDisk() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// Every line logged so far.
    func text() throws -> String {
        writer.flush()
        return try onDisk()
    }

    deinit {
        writer.close()
        close(descriptor)
        unlink(path)
    }
}
