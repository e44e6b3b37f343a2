// StreamDelivery: feeds a ResponseStream's chunks to libmicrohttpd, suspending the connection while none is ready.
import CMicroHTTPD
import Foundation
import Synchronization

/// libmicrohttpd pulls (the content-reader callback); the stream is asked for its next chunk only
/// when the previous one has been handed over, so the stream's own queue decides what a slow client
/// loses. While waiting the connection is suspended: no pool thread is held by an idle stream.
final class StreamDelivery: Sendable {
    private let stream: any ResponseStream
    /// `MHD_Connection *`; only used while the request is live (see `State.finished`).
    nonisolated(unsafe) private let connection: OpaquePointer

    private struct State {
        var chunk: [UInt8] = []
        var offset = 0
        var pulling = false
        var ended = false
        var suspended = false
        /// libmicrohttpd completed the request; the connection pointer must not be used again.
        var finished = false
        var cancelled = false
    }
    private let state = Mutex(State())

    /// The server's "grace period over" flag: from then on no connection may be suspended, since
    /// libmicrohttpd aborts when it is stopped with one still suspended.
    private let closing: @Sendable () -> Bool

    init(stream: any ResponseStream, connection: OpaquePointer, closing: @escaping @Sendable () -> Bool = { false }) {
        self.stream = stream
        self.connection = connection
        self.closing = closing
    }

    enum Read {
        case bytes(Int)
        case wait, end
    }

    /// The content-reader callback's work: copy what is buffered, or start pulling and suspend.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Read {
        var startPull = false
        let first = state.withLock { s -> Read? in
            if let r = Self.copy(&s, into: buffer) { return r }
            if !s.pulling {
                s.pulling = true
                startPull = true
            }
            return nil
        }
        if let first { return first }
        if startPull {
            let stream = self.stream
            // Runs inline up to the stream's first real suspension, so a ready chunk costs no thread hop.
            _ = Task.immediate { [self] in receive(await stream.next()) }
        }
        var endedByStop = false
        let read = state.withLock { s -> Read in
            if let r = Self.copy(&s, into: buffer) { return r }
            // A stream that begins while the server stops (a forwarded one whose peer answered late)
            // ends at once instead of suspending its connection; checked under the lock, so forceEnd
            // (which comes after the flag is set) sees any suspension made before it.
            if closing() {
                s.ended = true
                endedByStop = !s.cancelled
                s.cancelled = true
                return .end
            }
            s.suspended = true
            MHD_suspend_connection(connection)
            return .wait
        }
        if endedByStop { stream.cancel() }
        return read
    }

    private static func copy(_ s: inout State, into buffer: UnsafeMutableRawBufferPointer) -> Read? {
        if s.offset < s.chunk.count {
            let n = min(buffer.count, s.chunk.count - s.offset)
            s.chunk.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + s.offset, byteCount: n)
            }
            s.offset += n
            if s.offset == s.chunk.count {
                s.chunk = []
                s.offset = 0
            }
            return .bytes(n)
        }
        return s.ended ? .end : nil
    }

    private func receive(_ chunk: [UInt8]?) {
        state.withLock { s in
            s.pulling = false
            if let chunk, !s.ended {
                s.chunk = chunk
                s.offset = 0
            } else {
                s.ended = true
            }
            resumeIfSuspended(&s)
        }
    }

    private func resumeIfSuspended(_ s: inout State) {
        if s.suspended && !s.finished {
            s.suspended = false
            MHD_resume_connection(connection)
        }
    }

    /// Asks the producer to finish (shutdown); it may still send a last chunk and then nil.
    func cancelOnce() {
        let first = state.withLock { s -> Bool in
            defer { s.cancelled = true }
            return !s.cancelled && !s.ended
        }
        if first { stream.cancel() }
    }

    /// Ends the response now, whatever the producer does: the chunked terminator goes out next.
    func forceEnd() {
        cancelOnce()
        state.withLock { s in
            s.ended = true
            s.chunk = []
            s.offset = 0
            resumeIfSuspended(&s)
        }
    }

    var hasEnded: Bool { state.withLock { $0.ended } }

    /// The request is over; a stream that had not ended lost its client (or the daemon stopped).
    func connectionFinished() {
        state.withLock { $0.finished = true }
        cancelOnce()
    }
}
