// AttachmentStore: the desired attachments in SQLite (WAL), the daemon's memory across restarts and crashes.
import Engine
import Foundation
import GRDB
import Synchronization

enum StoreInsertOutcome: Sendable, Equatable {
    case inserted
    /// The id exists already; its row.
    case idTaken(AttachmentRow)
    /// Another id already wants this filter on this device.
    case deviceFilterTaken(AttachmentRow)
}

final class AttachmentStore: Sendable {
    private let db: any DatabaseWriter
    private let writes = Atomic<UInt64>(0)

    /// Grows after every write has committed: equal generations read equal rows (one daemon owns the
    /// state directory, so no other writer exists). Read it before the rows it is to vouch for.
    var generation: UInt64 { writes.load(ordering: .acquiring) }

    /// Opens (creating if needed) `state.sqlite` in `directory` and brings its schema up to date.
    convenience init(directory: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        let pool = try DatabasePool(path: directory + "/state.sqlite", configuration: config)
        try self.init(writer: pool)
    }

    /// An in-memory database, for tests.
    convenience init() throws {
        try self.init(writer: DatabaseQueue())
    }

    private init(writer: any DatabaseWriter) throws {
        db = writer
        try StateMigrations.migrator.migrate(writer)
    }

    func insert(_ row: AttachmentRow) throws -> StoreInsertOutcome {
        try write { db in
            if let existing = try Self.fetch(db, "WHERE id = ?", [row.id]).first { return .idTaken(existing) }
            if let existing = try Self.fetch(
                db, "WHERE dev_major = ? AND dev_minor = ? AND filter = ?", [row.dev.major, row.dev.minor, row.filter]
            ).first {
                return .deviceFilterTaken(existing)
            }
            try db.execute(
                sql: """
                    INSERT INTO attachment (id, dev_major, dev_minor, device_path, device_name, filter, options,
                        kernel_options, created_at, phase, error, attached_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    row.id, row.dev.major, row.dev.minor, row.devicePath, row.deviceName, row.filter,
                    JSONValue.object(row.options).canonicalText, row.kernelOptions,
                    row.createdAt.timeIntervalSince1970, row.phase.rawValue, row.error,
                    row.attachedAt?.timeIntervalSince1970,
                ])
            return .inserted
        }
    }

    func row(id: String) throws -> AttachmentRow? {
        try db.read { db in try Self.fetch(db, "WHERE id = ?", [id]).first }
    }

    func rows() throws -> [AttachmentRow] {
        try db.read { db in try Self.fetch(db, "", []) }
    }

    func rows(on dev: DeviceNumber) throws -> [AttachmentRow] {
        try db.read { db in try Self.fetch(db, "WHERE dev_major = ? AND dev_minor = ?", [dev.major, dev.minor]) }
    }

    /// Records an observed outcome; the spec never changes after insert.
    func setStatus(id: String, phase: AttachmentPhase, error: String?, attachedAt: Date?) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE attachment SET phase = ?, error = ?, attached_at = ? WHERE id = ?",
                arguments: [phase.rawValue, error, attachedAt?.timeIntervalSince1970, id])
        }
    }

    /// Remembers the device's current path and name (they may change; dev is the identity).
    func setDeviceNames(id: String, path: String, name: String) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE attachment SET device_path = ?, device_name = ? WHERE id = ?",
                arguments: [path, name, id])
        }
    }

    func delete(id: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM attachment WHERE id = ?", arguments: [id]) }
    }

    /// Every write goes through here, so the generation cannot miss one.
    private func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { writes.add(1, ordering: .releasing) }
        return try db.write(updates)
    }

    private static func fetch(_ db: Database, _ whereClause: String, _ arguments: StatementArguments) throws
        -> [AttachmentRow]
    {
        try Row.fetchAll(
            db, sql: "SELECT * FROM attachment \(whereClause) ORDER BY created_at, id", arguments: arguments
        )
        .map { r in
            let optionsText: String = r["options"]
            var options: [String: JSONValue] = [:]
            if case .object(let o) = JSONValue.parse(canonical: optionsText) { options = o }
            let attachedAt: Double? = r["attached_at"]
            return AttachmentRow(
                id: r["id"], dev: DeviceNumber(major: r["dev_major"], minor: r["dev_minor"]),
                devicePath: r["device_path"], deviceName: r["device_name"], filter: r["filter"],
                options: options, kernelOptions: r["kernel_options"],
                createdAt: Date(timeIntervalSince1970: r["created_at"]),
                phase: AttachmentPhase(rawValue: r["phase"]) ?? .pending, error: r["error"],
                attachedAt: attachedAt.map(Date.init(timeIntervalSince1970:)))
        }
    }
}
