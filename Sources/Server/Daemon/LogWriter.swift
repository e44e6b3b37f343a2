// LogWriter: log lines gathered in order and written in batches by a thread of their own, so no request waits on write(2).
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A line is appended to one buffer under a lock, so the order of the lines is the order of the
/// `append` calls; a single writer thread empties the buffer with one write(2) per batch. The writer
/// waits `gatherInterval` after it is woken, so under load it wakes a few hundred times a second
/// rather than once per line, and a line reaches the descriptor at most a few milliseconds after it
/// was made. Lines at error level and above are written before `append` returns (with everything
/// before them), so the reason for a failure is on disk even if the process dies right after.
/// `flush()` runs at exit. A writer that cannot keep up (a blocked pipe) holds the appenders back at
/// `maxBuffered` bytes instead of dropping lines or growing without bound.
final class LogWriter: @unchecked Sendable {
    /// The daemon's standard error, flushed at process exit.
    static let standardError: LogWriter = {
        let writer = LogWriter(descriptor: STDERR_FILENO)
        atexit { LogWriter.standardError.flush() }
        return writer
    }()

    static let gatherInterval: TimeInterval = 0.002
    static let maxBuffered = 4 << 20

    let descriptor: Int32
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var pending: [UInt8] = []
    /// Lines appended / lines written, counted in batches: `flush` waits until they meet.
    private var appended: UInt64 = 0
    private var written: UInt64 = 0
    private var closed = false
    private var writerRunning = true

    init(descriptor: Int32) {
        self.descriptor = descriptor
        pending.reserveCapacity(64 * 1024)
        // The thread keeps the writer alive until `close`.
        let thread = Thread { self.drain() }
        thread.name = "dmflt-log"
        thread.start()
    }

    /// Queues `line` (which ends in a newline); `durable` waits until it has been written.
    func append(_ line: String, durable: Bool = false) {
        append(Array(line.utf8), durable: durable)
    }

    /// Queues the UTF-8 bytes of a line (ending in a newline); `durable` waits until it has been written.
    func append(_ line: [UInt8], durable: Bool = false) {
        condition.lock()
        while pending.count >= Self.maxBuffered && writerRunning { condition.wait() }
        let wasEmpty = pending.isEmpty
        pending.append(contentsOf: line)
        appended += 1
        let mine = appended
        if wasEmpty { condition.broadcast() }
        if durable {
            while written < mine && writerRunning { condition.wait() }
        }
        condition.unlock()
        if !writerRunning { writeRemaining() }
    }

    /// Returns once every line appended before the call is written.
    func flush() {
        condition.lock()
        let target = appended
        condition.broadcast()
        while written < target && writerRunning { condition.wait() }
        condition.unlock()
        writeRemaining()
    }

    /// Flushes and stops the writer thread; later lines are written by their caller.
    func close() {
        flush()
        condition.lock()
        closed = true
        condition.broadcast()
        while writerRunning { condition.wait() }
        condition.unlock()
        writeRemaining()
    }

    private func drain() {
        var batch: [UInt8] = []
        batch.reserveCapacity(64 * 1024)
        condition.lock()
        while true {
            while pending.isEmpty && !closed { condition.wait() }
            if pending.isEmpty && closed { break }
            // Let the lines of the next few milliseconds join this batch.
            condition.unlock()
            Thread.sleep(forTimeInterval: Self.gatherInterval)
            condition.lock()
            swap(&batch, &pending)
            let through = appended
            condition.unlock()
            Self.writeAll(batch, to: descriptor)
            batch.removeAll(keepingCapacity: true)
            condition.lock()
            written = through
            condition.broadcast()
        }
        writerRunning = false
        condition.broadcast()
        condition.unlock()
    }

    /// After the thread stopped, whoever appends writes, under the lock so the order holds (rare:
    /// lines logged after `close`).
    private func writeRemaining() {
        condition.lock()
        defer { condition.unlock() }
        guard !writerRunning, !pending.isEmpty else { return }
        Self.writeAll(pending, to: descriptor)
        pending.removeAll(keepingCapacity: true)
        written = appended
    }

    /// write(2) until all of `bytes` is out (short writes and EINTR retried; other errors drop the batch).
    static func writeAll(_ bytes: [UInt8], to fd: Int32) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }
}
