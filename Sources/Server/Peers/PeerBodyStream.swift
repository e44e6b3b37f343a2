// PeerBodyStream: a peer's streamed answer passed on with backpressure: at most a fixed number of bytes held.
import Foundation
import NIOCore
import Synchronization

/// The reader task takes the peer's chunks only while less than `limit` bytes wait for our client.
/// When the client reads slowly, the task stops pulling, async-http-client stops reading the socket,
/// and TCP slows the peer down (whose own watch queue then drops ticks, and says so): memory here
/// stays bounded whatever the peer sends.
final class PeerBodyStream: ResponseStream, @unchecked Sendable {
    /// Bytes held for one forwarded stream before the peer is made to wait.
    static let defaultLimit = 256 << 10

    private struct State {
        var chunks: [[UInt8]] = []
        var head = 0
        var bytes = 0
        var finished = false
        var consumer: CheckedContinuation<[UInt8]?, Never>?
        var producer: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    private let limit: Int
    private var reader: Task<Void, Never>?

    init<Body: AsyncSequence & Sendable>(_ body: Body, limit: Int = PeerBodyStream.defaultLimit)
    where Body.Element == ByteBuffer {
        self.limit = max(1, limit)
        reader = Task { [weak self] in
            do {
                for try await buffer in body {
                    guard let self else { return }
                    await self.offer(Array(buffer.readableBytesView))
                    if Task.isCancelled { break }
                }
            } catch {}
            self?.finish()
        }
    }

    /// Bytes waiting for the client now (for tests and the bound).
    var held: Int { state.withLock { $0.bytes } }

    private func offer(_ chunk: [UInt8]) async {
        // Waits while the client has `limit` bytes or more to read (cancellation ends the wait too).
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resume = state.withLock { s -> Bool in
                if s.finished || s.bytes < limit { return true }
                s.producer = c
                return false
            }
            if resume { c.resume() }
        }
        let waiting = state.withLock { s -> CheckedContinuation<[UInt8]?, Never>? in
            guard !s.finished else { return nil }
            if let c = s.consumer {
                s.consumer = nil
                return c
            }
            s.chunks.append(chunk)
            s.bytes += chunk.count
            return nil
        }
        waiting?.resume(returning: chunk)
    }

    private func finish() {
        let (consumer, producer) = state.withLock { s in
            s.finished = true
            defer { (s.consumer, s.producer) = (nil, nil) }
            return (s.consumer, s.producer)
        }
        producer?.resume()
        // Chunks still queued are delivered first; an idle consumer learns the end now.
        if let consumer { consumer.resume(returning: nil) }
    }

    func next() async -> [UInt8]? {
        await withCheckedContinuation { (c: CheckedContinuation<[UInt8]?, Never>) in
            let (chunk, done, producer) = state.withLock { s -> ([UInt8]?, Bool, CheckedContinuation<Void, Never>?) in
                if s.head < s.chunks.count {
                    let chunk = s.chunks[s.head]
                    s.head += 1
                    s.bytes -= chunk.count
                    if s.head == s.chunks.count { (s.chunks, s.head) = ([], 0) }
                    let p = s.bytes < limit ? s.producer : nil
                    if p != nil { s.producer = nil }
                    return (chunk, false, p)
                }
                if s.finished { return (nil, true, nil) }
                s.consumer = c
                let p = s.producer
                s.producer = nil
                return (nil, false, p)
            }
            producer?.resume()
            if let chunk { c.resume(returning: chunk) } else if done { c.resume(returning: nil) }
        }
    }

    /// The client went away: stop reading, which cancels the request to the peer.
    func cancel() {
        reader?.cancel()
        finish()
    }
}
