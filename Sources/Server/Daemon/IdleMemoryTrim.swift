// IdleMemoryTrim: once a burst of requests is over, hands the heap's freed pages back to the kernel.
#if canImport(Glibc)
    import Glibc
#endif

/// glibc keeps what a large answer freed (a 1,000-attachment list decodes and encodes megabytes) in
/// its per-thread arenas, so an idle daemon kept the peak of its last burst: 2.6 MB after a wrk run.
/// `malloc_trim(0)` releases it, but it locks each arena in turn, so it runs only when the daemon
/// has been idle for a whole period after activity: never under load, once per burst.
struct IdleMemoryTrim: Sendable {
    /// A count that moves while the daemon works (requests started).
    let activity: @Sendable () -> Int
    var period = Duration.seconds(2)
    /// What runs once idle: glibc's malloc_trim (tests count calls instead).
    var trim: @Sendable () -> Void = { _ = IdleMemoryTrim.mallocTrim?(0) }

    /// glibc's `malloc_trim`, which Swift's Glibc module does not declare (it is in <malloc.h>).
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    /// Runs until cancelled. The first trim follows the start (the first reconcile pass read every row).
    func run() async {
        var seen = -1
        var dirty = true
        while !Task.isCancelled {
            try? await Task.sleep(for: period)
            let now = activity()
            if now != seen {
                seen = now
                dirty = true
            } else if dirty {
                dirty = false
                trim()
            }
        }
    }
}
