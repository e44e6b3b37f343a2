// KernelChanges: a count of the attaches and detaches this daemon has made, so what is read from the kernel can be kept until one happens.
import Synchronization

/// Bumped by CountingFilterControl after each attach or detach has returned (whether it worked or
/// not): a reader that took the count before reading the kernel and finds it unchanged afterwards
/// knows no change of this daemon's landed in between.
final class KernelChanges: Sendable {
    private let count = Atomic<UInt64>(0)

    var current: UInt64 { count.load(ordering: .acquiring) }

    func note() { count.add(1, ordering: .releasing) }
}
