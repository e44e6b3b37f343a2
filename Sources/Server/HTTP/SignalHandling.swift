// SignalHandling: turns SIGTERM/SIGINT into an awaitable event and SIGHUP into a stream (DispatchSource), for graceful shutdown and reload.
import Dispatch
import Foundation
import Synchronization

public enum SignalHandling {
    /// Dispatch sources live only while referenced; they are kept for the life of the process.
    private final class Sources: @unchecked Sendable {
        let all: [any DispatchSourceSignal]
        init(_ all: [any DispatchSourceSignal]) { self.all = all }
    }
    private static let sources = Mutex<[Sources]>([])
    private static let received = Mutex(0)

    /// Suspends until SIGTERM or SIGINT and returns its number. The default actions are disabled
    /// so the caller can stop cleanly; a second signal while stopping exits at once (status 128+n),
    /// so an impatient Ctrl-C still works. `installed` runs once the handlers are in place, so whatever
    /// it announces (readiness to a service manager) can be followed by a signal that is not lost.
    public static func waitForTermination(
        _ signals: [Int32] = [SIGTERM, SIGINT], installed: () -> Void = {}
    ) async -> Int32 {
        await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            let once = Mutex<CheckedContinuation<Int32, Never>?>(continuation)
            let queue = DispatchQueue(label: "dmflt.signals")
            var made: [any DispatchSourceSignal] = []
            for number in signals {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                source.setEventHandler {
                    let count = received.withLock {
                        $0 += 1
                        return $0
                    }
                    if let c = once.withLock({ c in
                        defer { c = nil }
                        return c
                    }) {
                        c.resume(returning: number)
                    } else if count > 1 {
                        _exit(128 + number)
                    }
                }
                source.resume()
                made.append(source)
            }
            let kept = Sources(made)
            sources.withLock { $0.append(kept) }
            installed()
        }
    }

    /// One element per SIGHUP, which no longer ends the process. Signals that arrive while the last
    /// one is still being handled are kept as one: the files a reload reads are read as they are then.
    public static func hangups() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "dmflt.hangups"))
        source.setEventHandler { continuation.yield() }
        source.resume()
        let kept = Sources([source])
        sources.withLock { $0.append(kept) }
        return stream
    }
}
