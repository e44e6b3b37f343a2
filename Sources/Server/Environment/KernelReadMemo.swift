// KernelReadMemo: what was last read from the kernel or sysfs, kept for up to a second while this daemon attaches and detaches nothing.
import Synchronization

/// Pollers ask for the same facts many times a second, and reading them (an IOCTL with its buffers, a
/// scan of /proc and /sys) cost more than the rest of their request. A value is kept for `maxAge` and
/// only while `KernelChanges` shows no attach or detach of this daemon since it was read, so an answer
/// never misses what this daemon did; a change made by someone else shows within a second.
final class KernelReadMemo<Value: Sendable>: Sendable {
    static var maxAge: Duration { .seconds(1) }
    private let last = Mutex<(at: ContinuousClock.Instant, generation: UInt64, value: Value)?>(nil)

    func value(generation: UInt64, now: ContinuousClock.Instant = .now) -> Value? {
        last.withLock { l in
            guard let l, l.generation == generation, now - l.at < Self.maxAge else { return nil }
            return l.value
        }
    }

    /// `generation` is the count taken before the read: a change that landed meanwhile makes the next
    /// reader read again.
    func keep(_ value: Value, generation: UInt64, now: ContinuousClock.Instant = .now) {
        last.withLock { $0 = (now, generation, value) }
    }

    /// The kept value, or `read()`'s, kept. Without `changes` nothing is kept.
    func value(changes: KernelChanges?, read: () -> Value) -> Value {
        guard let changes else { return read() }
        let generation = changes.current
        if let kept = value(generation: generation) { return kept }
        let fresh = read()
        keep(fresh, generation: generation)
        return fresh
    }
}
