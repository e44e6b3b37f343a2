// PeersDirectoryTests: membership: seeding, PUT/DELETE rules, persistence in peers.sqlite, health bookkeeping.
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersDirectoryTests {
    @Test func seedsAreStoredAndWinOverStoredURLs() throws {
        let storage = InMemoryPeerStorage([
            PeerRecord(name: "b", url: "http://old:1"), PeerRecord(name: "z", url: "http://z:1"),
        ])
        let d = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: storage, seeds: [.init(name: "b", url: "http://new:1")])
        #expect(d.peers() == [PeerRecord(name: "b", url: "http://new:1"), PeerRecord(name: "z", url: "http://z:1")])
        #expect(try storage.load() == d.peers())
    }

    @Test func putAndRemoveChangeTheStoredList() throws {
        let storage = InMemoryPeerStorage()
        let d = try PeerDirectory(selfName: "a", selfURL: nil, storage: storage, seeds: [])
        #expect(try d.put(name: "b", url: "http://b:7450/") == true)
        #expect(try d.put(name: "b", url: "http://b:7451") == false)
        #expect(try storage.load() == [PeerRecord(name: "b", url: "http://b:7451")])
        try d.remove(name: "b")
        #expect(try storage.load().isEmpty)
        #expect(d.peer(named: "b") == nil)
    }

    @Test func selfAndBadInputAreRefusedAndChangeNothing() throws {
        let storage = InMemoryPeerStorage()
        let d = try PeerDirectory(selfName: "a", selfURL: nil, storage: storage, seeds: [])
        #expect(throws: MemberError.self) { try d.put(name: "a", url: "http://a:1") }
        #expect(throws: MemberError.self) { try d.put(name: "local", url: "http://a:1") }
        #expect(throws: MemberError.self) { try d.put(name: "b/c", url: "http://a:1") }
        #expect(throws: MemberError.self) { try d.put(name: "b", url: "not a url") }
        #expect(throws: MemberError.self) { try d.remove(name: "a") }
        do {
            try d.remove(name: "nobody")
            Issue.record("removing an unknown host must fail")
        } catch { #expect(error.problem.status == 404) }
        #expect(try storage.load().isEmpty)
    }

    @Test func sqliteStorageSurvivesReopening() throws {
        let dir = NSTemporaryDirectory() + "dmflt-peers-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let d = try PeerDirectory(
                selfName: "a", selfURL: nil, storage: try SQLitePeerStorage(directory: dir),
                seeds: [.init(name: "b", url: "http://b:1")])
            try d.put(name: "c", url: "http://c:1")
        }
        let reopened = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: try SQLitePeerStorage(directory: dir), seeds: [])
        #expect(
            reopened.peers() == [PeerRecord(name: "b", url: "http://b:1"), PeerRecord(name: "c", url: "http://c:1")])
    }

    @Test func membersShowSelfFirstAndHealthAsObserved() throws {
        let d = try PeerDirectory(
            selfName: "a", selfURL: "http://a:1", storage: InMemoryPeerStorage(),
            seeds: [.init(name: "c", url: "http://c:1"), .init(name: "b", url: "http://b:1")])
        let seen = Date(timeIntervalSince1970: 1_000_000)
        d.record(
            PeerHealth(status: .up, lastSeen: seen, version: "9.9", filterIoctl: true), for: "b",
            checkedURL: "http://b:1")
        // A check that ran against an old URL must not overwrite the new one's state.
        d.record(PeerHealth(status: .up, lastSeen: seen), for: "c", checkedURL: "http://elsewhere:1")
        let m = d.members(selfVersion: "1.0", selfFilterIoctl: false)
        #expect(m.map(\.name) == ["a", "b", "c"])
        #expect(m.map(\.status) == ["up", "up", "unknown"])
        #expect(m[0].isSelf && !m[1].isSelf)
        #expect(m[1].version == "9.9" && m[1].filterIoctl == true && m[1].lastSeen == seen)
        // Down keeps what was last known.
        d.record(PeerHealth(status: .down), for: "b", checkedURL: "http://b:1")
        let after = d.members(selfVersion: "1.0", selfFilterIoctl: false)[1]
        #expect(after.status == "down" && after.lastSeen == seen && after.version == "9.9")
    }
}
