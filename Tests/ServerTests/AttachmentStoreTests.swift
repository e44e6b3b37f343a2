// AttachmentStoreTests: the state database keeps rows across reopen and refuses duplicates.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct AttachmentStoreTests {
    func row(_ id: String, minor: UInt32 = 0, filter: String = "stat") -> AttachmentRow {
        AttachmentRow(
            id: id, dev: DeviceNumber(major: 7, minor: minor), devicePath: "/dev/loop\(minor)",
            deviceName: "loop\(minor)",
            filter: filter, options: ["mode": .string("ro"), "n": .int(3), "v": .bool(true)], kernelOptions: "mode=ro",
            createdAt: Date(timeIntervalSince1970: 1_700_000_000.25), phase: .pending, error: nil, attachedAt: nil)
    }

    @Test func rowsSurviveReopenWithTheirStatus() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-store-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try AttachmentStore(directory: dir)
            #expect(try store.insert(row("a")) == .inserted)
            try store.setStatus(id: "a", phase: .attached, error: nil, attachedAt: Date(timeIntervalSince1970: 5))
        }
        let reopened = try AttachmentStore(directory: dir)
        let a = try #require(try reopened.row(id: "a"))
        #expect(a.phase == .attached)
        #expect(a.attachedAt == Date(timeIntervalSince1970: 5))
        #expect(a.options == row("a").options)
        #expect(a.createdAt == row("a").createdAt)
        #expect(FileManager.default.fileExists(atPath: dir + "/state.sqlite-wal"))
    }

    @Test func duplicatesAreRefusedAndNameTheExistingRow() throws {
        let store = try AttachmentStore()
        #expect(try store.insert(row("a")) == .inserted)
        guard case .idTaken(let same) = try store.insert(row("a", minor: 1)) else {
            Issue.record("id reused")
            return
        }
        #expect(same.dev.minor == 0)
        guard case .deviceFilterTaken(let other) = try store.insert(row("b")) else {
            Issue.record("same device and filter twice")
            return
        }
        #expect(other.id == "a")
        #expect(try store.insert(row("c", filter: "guard")) == .inserted)
        #expect(try store.rows().map(\.id) == ["a", "c"])
    }

    @Test func deleteForgets() throws {
        let store = try AttachmentStore()
        _ = try store.insert(row("a"))
        try store.delete(id: "a")
        #expect(try store.row(id: "a") == nil)
        #expect(try store.insert(row("b")) == .inserted)
    }
}
