// NonceLedger: the nonces of signed peer calls still inside the time window, so none is accepted twice.
import Foundation
import Synchronization

/// A nonce is remembered until its call's timestamp leaves the window, then forgotten: a replay after
/// that fails on the timestamp instead. Only calls with a valid signature are recorded, so only holders
/// of the cluster secret can fill the ledger; at `capacity` it refuses new calls (503) rather than forget
/// a nonce early and let a replay through.
final class NonceLedger: Sendable {
    enum Verdict: Equatable {
        case fresh, replayed, full
    }

    static let defaultCapacity = 1 << 18

    private struct State {
        var expiry: [String: Int64] = [:]
        /// In arrival order, which is close to expiry order: pruning from the front frees what has expired.
        var order: [(nonce: String, expiry: Int64)] = []
        var head = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = NonceLedger.defaultCapacity) { self.capacity = capacity }

    var count: Int { state.withLock { $0.expiry.count } }

    /// Records `nonce` as used until `expiry` (seconds), unless it already is.
    func record(_ nonce: String, expiry: Int64, now: Int64) -> Verdict {
        state.withLock { s in
            while s.head < s.order.count, s.order[s.head].expiry < now {
                let old = s.order[s.head]
                if s.expiry[old.nonce] == old.expiry { s.expiry[old.nonce] = nil }
                s.head += 1
            }
            if s.head > 1024 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
            if let seen = s.expiry[nonce], seen >= now { return .replayed }
            guard s.expiry.count < capacity else { return .full }
            s.expiry[nonce] = expiry
            s.order.append((nonce, expiry))
            return .fresh
        }
    }
}
