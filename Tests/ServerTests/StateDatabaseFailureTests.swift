// StateDatabaseFailureTests: a damaged, hand-edited, full or read-only state database: clear words, 503, no SQL.
import Foundation
import GRDB
import Testing

@testable import dmfltd

@Suite struct StateDatabaseFailureTests {
    static let sqlWords = ["SELECT", "INSERT", "UPDATE", "DELETE FROM", "PRAGMA", "CREATE", "WHERE"]

    func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-db-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func opening(_ dir: String) -> StateDatabaseFailure? {
        do {
            _ = try AttachmentStore(directory: dir)
            return nil
        } catch { return error }
    }

    @Test func aFileThatIsNoDatabaseStopsTheStartWithWhatToDo() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: dir + "/state.sqlite"))
        let failure = try #require(opening(dir))
        #expect(failure.cause == .corrupt)
        #expect(
            failure.description.contains("\(dir)/state.sqlite") && failure.description.contains("move the file away"))
        #expect(!Self.sqlWords.contains { failure.description.contains($0) }, "\(failure)")
        // Not restarted by the unit: starting again would fail the same way.
        #expect(ServeCommand.exitCode(for: failure).rawValue == 78)
    }

    @Test func aHandEditedRowIsReportedNotTrappedOn() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let h = try APITestHarness(store: try AttachmentStore(directory: dir))
            #expect(await h.attach("x").status == 201)
        }
        let raw = try DatabaseQueue(path: dir + "/state.sqlite")
        try await raw.write { try $0.execute(sql: "UPDATE attachment SET dev_major = 'seven'") }
        try raw.close()
        let failure = try #require(opening(dir))
        #expect(failure.cause == .corrupt)
        #expect(failure.description.contains("attachment 'x'") && failure.description.contains("dev_major"))
        #expect(!Self.sqlWords.contains { failure.description.contains($0) }, "\(failure)")
    }

    /// A store whose writes fail as on a full disk or a read-only file, behind the real routes.
    func harness(full: Bool) throws -> APITestHarness {
        let queue = try DatabaseQueue()
        let store = try AttachmentStore(writer: queue, file: "/var/lib/dmflt/state.sqlite")
        let h = try APITestHarness(store: store)
        try queue.inDatabase { db in
            guard full else { return try db.execute(sql: "PRAGMA query_only = 1") }
            // No page may be added, and the pages there are filled with the smallest rows: SQLITE_FULL,
            // what SQLite reports when the disk is full.
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
            var i: UInt32 = 0
            while (try? db.execute(
                sql:
                    "INSERT INTO attachment VALUES (?, 200, ?, '', '', 's', '{}', '', 0, 'attached', NULL, NULL, NULL, NULL, NULL)",
                arguments: ["f\(i)", i])) != nil
            {
                i += 1
            }
        }
        return h
    }

    @Test(arguments: [(true, "is full"), (false, "cannot be written")])
    func aFullOrReadOnlyDatabaseAnswers503InWords(_ full: Bool, _ words: String) async throws {
        let h = try harness(full: full)
        let r = await h.call(
            "PUT", "/v1/hosts/local/attachments/x", json: #"{"device":"/dev/loop0","filter":"stat"}"#)
        #expect(r.status == 503)
        #expect(r.problemType == "urn:dmflt:problem:state-unavailable")
        #expect(r.headers["Retry-After"] != nil)
        let detail = r.object["detail"] as? String ?? ""
        #expect(detail.contains(words) && detail.contains("/var/lib/dmflt/state.sqlite"), "\(detail)")
        #expect(!Self.sqlWords.contains { detail.contains($0) }, "\(detail)")
        // Reading still works, and nothing was recorded or attached.
        #expect(await h.call("GET", "/v1/hosts/local/attachments").status == 200)
        #expect(h.control.attachments.isEmpty)
    }

    @Test func aFailureOfAnotherKindIsA500WithoutSQL() {
        let e = DatabaseError(
            resultCode: .SQLITE_ERROR, message: "no such table: attachment", sql: "SELECT * FROM attachment")
        let p = Problem.store(e)
        #expect(p.status == 500 && p.detail.contains("no such table") && !p.detail.contains("SELECT"))
    }
}
