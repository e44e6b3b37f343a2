// OpenFile: a file descriptor a response reads from, closed exactly once: by libmicrohttpd once handed over, else here.
import Foundation
import Synchronization

public final class OpenFile: Sendable {
    private let fd: Int32
    private let owned = Atomic<Bool>(true)

    init(fd: Int32) {
        self.fd = fd
    }

    /// The descriptor, for the one owner that will close it; nil when already handed over.
    func handOver() -> Int32? {
        owned.exchange(false, ordering: .acquiringAndReleasing) ? fd : nil
    }

    deinit {
        if owned.load(ordering: .acquiring) { close(fd) }
    }
}
