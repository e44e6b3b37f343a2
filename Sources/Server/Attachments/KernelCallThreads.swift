// KernelCallThreads: threads of dmfltd's own for kernel calls that can block for seconds.
import Foundation

/// A detach waits for RCU and SRCU grace periods, and the first attach patches kernel text (seconds
/// under emulation). Run on a libmicrohttpd thread, such a call stops every connection that thread
/// serves; run on the Swift cooperative pool (one thread per core), a few of them stop every task,
/// health checks included. Calls that may block run on these threads instead: the calling task is
/// suspended, its thread stays free.
final class KernelCallThreads: @unchecked Sendable {
    /// Attach, detach, messages and reconcile passes (each under its device's lock).
    static let changes = KernelCallThreads(name: "dmflt-kernel", threads: 4)
    /// Statistics readings (STATUS, dm-stats), which must not queue behind a slow detach. One thread:
    /// StatsSampler's reuse of a fresh reading then holds without a lock around the IOCTL.
    static let readings = KernelCallThreads(name: "dmflt-kernel-read", threads: 1)

    private let condition = NSCondition()
    /// Guarded by `condition`.
    private var jobs: [@Sendable () -> Void] = []
    private var started = false
    private let name: String
    let threads: Int

    init(name: String, threads: Int) {
        self.name = name
        self.threads = max(1, threads)
    }

    /// Runs `body` on one of these threads and waits for it without holding the caller's thread.
    func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: Result { () throws(E) -> T in try body() }) }
        }
        return try result.get()
    }

    private static let marker = "dmflt.kernel-call-thread"

    /// Whether the caller runs on one of these threads (for tests and assertions).
    static var onKernelThread: Bool { Thread.current.threadDictionary[marker] as? Bool == true }

    private func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        // Started at the first call: a daemon that never reaches the kernel keeps no idle threads.
        if !started {
            started = true
            for i in 0..<threads {
                let thread = Thread { [self] in
                    Thread.current.threadDictionary[Self.marker] = true
                    work()
                }
                thread.name = "\(name)-\(i)"
                thread.start()
            }
        }
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
