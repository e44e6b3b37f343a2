// PeerDirectory: the cluster's members (this host and its peers), their persisted URLs and last observed health.
import Foundation
import Synchronization

/// What the last health check saw of one peer.
struct PeerHealth: Sendable, Equatable {
    enum Status: String, Sendable { case up, down, unknown }
    var status: Status = .unknown
    var lastSeen: Date?
    var version: String?
    var filterIoctl: Bool?
    var detail: String?
}

final class PeerDirectory: Sendable {
    let selfName: String
    let selfURL: String?
    private let storage: any PeerStorage

    private struct Entry {
        var url: String
        var health = PeerHealth()
    }
    private let entries = Mutex<[String: Entry]>([:])

    /// Loads the stored members, then applies the command line's seeds (a seed's URL wins and is stored).
    init(selfName: String, selfURL: String?, storage: any PeerStorage, seeds: [PeerConfiguration.Seed]) throws {
        self.selfName = selfName
        self.selfURL = selfURL
        self.storage = storage
        var loaded: [String: Entry] = [:]
        for r in try storage.load() where r.name != selfName { loaded[r.name] = Entry(url: r.url) }
        for s in seeds where loaded[s.name]?.url != s.url {
            try storage.save(PeerRecord(name: s.name, url: s.url))
            loaded[s.name] = Entry(url: s.url)
        }
        entries.withLock { $0 = loaded }
    }

    func isSelf(_ name: String) -> Bool { name == "local" || name == selfName }

    func peer(named name: String) -> PeerRecord? {
        entries.withLock { $0[name].map { PeerRecord(name: name, url: $0.url) } }
    }

    /// Peers sorted by name.
    func peers() -> [PeerRecord] {
        entries.withLock { e in e.map { PeerRecord(name: $0.key, url: $0.value.url) }.sorted { $0.name < $1.name } }
    }

    func health(of name: String) -> PeerHealth? { entries.withLock { $0[name]?.health } }

    /// Adds or re-points a peer; true when it is new. A changed URL forgets the old health.
    @discardableResult
    func put(name: String, url: String) throws(MemberError) -> Bool {
        try PeerName.validate(name)
        let url = try PeerName.normalizedURL(url)
        if isSelf(name) {
            throw .isSelf("'\(name)' is this host itself; it is a member already and has no peer URL.")
        }
        do { try storage.save(PeerRecord(name: name, url: url)) } catch {
            throw .store(error)
        }
        return entries.withLock { e in
            let isNew = e[name] == nil
            if e[name]?.url != url { e[name] = Entry(url: url) }
            return isNew
        }
    }

    func remove(name: String) throws(MemberError) {
        if isSelf(name) { throw .isSelf("'\(name)' is this host itself; it cannot be removed.") }
        guard peer(named: name) != nil else { throw .unknown(name: name, selfName: selfName) }
        do { try storage.remove(name: name) } catch {
            throw .store(error)
        }
        _ = entries.withLock { $0.removeValue(forKey: name) }
    }

    /// Records a check's outcome unless the peer was removed or re-pointed while it ran.
    func record(_ observation: PeerHealth, for name: String, checkedURL: String) {
        entries.withLock { e in
            guard var entry = e[name], entry.url == checkedURL else { return }
            var h = observation
            if h.status == .down {
                // Keep what was last known of a peer that went away; that is what an operator needs.
                h.lastSeen = entry.health.lastSeen
                h.version = entry.health.version
                h.filterIoctl = entry.health.filterIoctl
            }
            entry.health = h
            e[name] = entry
        }
    }

    /// `GET /v1/hosts`: this host first, then the peers by name.
    func members(selfVersion: String, selfFilterIoctl: Bool, now: Date = Date()) -> [MemberResource] {
        let me = MemberResource(
            name: selfName, url: selfURL, isSelf: true, status: "up", lastSeen: now, version: selfVersion,
            filterIoctl: selfFilterIoctl)
        let others = entries.withLock { e in
            e.sorted { $0.key < $1.key }.map { name, entry in
                MemberResource(
                    name: name, url: entry.url, isSelf: false, status: entry.health.status.rawValue,
                    lastSeen: entry.health.lastSeen, version: entry.health.version,
                    filterIoctl: entry.health.filterIoctl)
            }
        }
        return [me] + others
    }
}
