// IdleMemoryTrimTests: the heap is trimmed once after start and once after each burst, never again while idle.
import Synchronization
import Testing

@testable import dmfltd

@Suite struct IdleMemoryTrimTests {
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func bump() { value.add(1, ordering: .relaxed) }
        var now: Int { value.load(ordering: .relaxed) }
    }

    /// Polls until `condition` holds (up to 5 s): scheduling on a busy machine may stretch the periods.
    func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<500 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    @Test func trimsOncePerBurstAndNotWhileIdle() async throws {
        let requests = Counter()
        let trims = Counter()
        let trimmer = IdleMemoryTrim(
            activity: { requests.now }, period: .milliseconds(20), trim: { trims.bump() })
        let running = Task { await trimmer.run() }
        defer { running.cancel() }

        #expect(await eventually { trims.now == 1 })  // after start
        try await Task.sleep(for: .milliseconds(200))  // ten idle periods
        #expect(trims.now == 1)

        for _ in 0..<20 {  // a burst
            requests.bump()
            try await Task.sleep(for: .milliseconds(5))
        }
        // (A descheduled burst may look like two bursts to the trimmer: at least one more trim.)
        #expect(await eventually { trims.now >= 2 })
        try await Task.sleep(for: .milliseconds(60))
        let settled = trims.now
        try await Task.sleep(for: .milliseconds(200))
        #expect(trims.now == settled)
    }
}
