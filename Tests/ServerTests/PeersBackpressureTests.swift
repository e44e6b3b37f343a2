// PeersBackpressureTests: a forwarded stream holds at most its limit for a slow client; the peer is made to wait.
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import dmfltd

/// A peer that sends 16 KiB chunks as fast as they are taken, counting how many were taken.
struct EndlessPeerBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let taken: Counter

    struct AsyncIterator: AsyncIteratorProtocol {
        let taken: Counter
        mutating func next() async -> ByteBuffer? {
            taken.value.add(1, ordering: .relaxed)
            return ByteBuffer(repeating: 0x61, count: 16 << 10)
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(taken: taken) }
}

final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

@Suite struct PeersBackpressureTests {
    @Test func aSlowClientMakesThePeerWaitAndMemoryStaysBounded() async throws {
        let counter = Counter()
        let limit = 256 << 10
        let stream = PeerBodyStream(EndlessPeerBody(taken: counter), limit: limit)
        try await Task.sleep(for: .milliseconds(300))  // the client reads nothing meanwhile
        let takenWhileIdle = counter.value.load(ordering: .relaxed)
        // limit / 16 KiB chunks held, plus the one waiting to be offered and the one being read.
        #expect(takenWhileIdle <= limit / (16 << 10) + 2, "\(takenWhileIdle) chunks taken from the peer")
        #expect(stream.held <= limit)
        var read = 0
        for _ in 0..<100 { read += await stream.next()?.count ?? 0 }
        #expect(read == 100 * (16 << 10))
        #expect(stream.held <= limit)
        stream.cancel()
        try await Task.sleep(for: .milliseconds(100))
        let afterCancel = counter.value.load(ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(200))
        #expect(counter.value.load(ordering: .relaxed) - afterCancel <= 1, "the peer is no longer read")
        #expect(await stream.next() == nil || stream.held <= limit)
    }
}
