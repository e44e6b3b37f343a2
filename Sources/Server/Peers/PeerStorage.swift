// PeerStorage: where the member list survives restarts; an in-memory one for tests, SQLite for the daemon.
import Foundation
import Synchronization

struct PeerRecord: Sendable, Equatable {
    var name: String
    var url: String
}

protocol PeerStorage: Sendable {
    func load() throws -> [PeerRecord]
    /// Inserts or replaces the record of that name.
    func save(_ record: PeerRecord) throws
    func remove(name: String) throws
}

final class InMemoryPeerStorage: PeerStorage {
    private let records = Mutex<[String: PeerRecord]>([:])

    init(_ initial: [PeerRecord] = []) {
        records.withLock { r in for p in initial { r[p.name] = p } }
    }

    func load() throws -> [PeerRecord] { records.withLock { $0.values.sorted { $0.name < $1.name } } }
    func save(_ record: PeerRecord) throws { records.withLock { $0[record.name] = record } }
    func remove(name: String) throws { _ = records.withLock { $0.removeValue(forKey: name) } }
}
