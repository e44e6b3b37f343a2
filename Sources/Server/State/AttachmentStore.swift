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

    /// The file, for messages (":memory:" in tests).
    let file: String

    /// Opens (creating if needed) `state.sqlite` in `directory`, checks it and brings its schema up to
    /// date; a file that is no database, is damaged or cannot be written fails here, before serving.
    convenience init(directory: String) throws(StateDatabaseFailure) {
        let file = directory + "/state.sqlite"
        var config = Configuration()
        config.busyMode = .timeout(5)
        let pool: DatabasePool
        do { pool = try DatabasePool(path: file, configuration: config) } catch {
            throw StateDatabaseFailure.from(error, file: file)
        }
        try self.init(writer: pool, file: file)
    }

    /// An in-memory database, for tests.
    convenience init() throws {
        try self.init(writer: DatabaseQueue(), file: ":memory:")
    }

    /// Over an existing writer (tests that damage or fill the database).
    init(writer: any DatabaseWriter, file: String) throws(StateDatabaseFailure) {
        db = writer
        self.file = file
        do {
            // quick_check reads every page: a damaged file is refused at start, not at its first bad row.
            let check = try writer.read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else {
                throw StateDatabaseFailure.corrupt(file, "quick_check: \(check.prefix(3).joined(separator: "; "))")
            }
            try StateMigrations.migrator.migrate(writer)
            _ = try writer.read { try Self.fetch($0, "", []) }
        } catch {
            throw StateDatabaseFailure.from(error, file: file)
        }
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
                        kernel_options, created_at, phase, error, attached_at, device_identity)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    row.id, row.dev.major, row.dev.minor, row.devicePath, row.deviceName, row.filter,
                    JSONValue.object(row.options).canonicalText, row.kernelOptions,
                    row.createdAt.timeIntervalSince1970, row.phase.rawValue, row.error,
                    row.attachedAt?.timeIntervalSince1970, row.deviceIdentity,
                ])
            return .inserted
        }
    }

    func row(id: String) throws -> AttachmentRow? {
        try read { db in try Self.fetch(db, "WHERE id = ?", [id]).first }
    }

    func rows() throws -> [AttachmentRow] {
        try read { db in try Self.fetch(db, "", []) }
    }

    func rows(on dev: DeviceNumber) throws -> [AttachmentRow] {
        try read { db in try Self.fetch(db, "WHERE dev_major = ? AND dev_minor = ?", [dev.major, dev.minor]) }
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

    /// Records which device the attachment is for, the first time one is seen at its number.
    func setDeviceIdentity(id: String, identity: String) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE attachment SET device_identity = ? WHERE id = ?", arguments: [identity, id])
        }
    }

    func delete(id: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM attachment WHERE id = ?", arguments: [id]) }
    }

    /// Every write goes through here, so the generation cannot miss one.
    private func write<T>(_ updates: (Database) throws -> T) throws -> T {
        defer { writes.add(1, ordering: .releasing) }
        do { return try db.write(updates) } catch { throw StateDatabaseFailure.from(error, file: file) }
    }

    private func read<T>(_ value: (Database) throws -> T) throws -> T {
        do { return try db.read(value) } catch { throw StateDatabaseFailure.from(error, file: file) }
    }

    private static func fetch(_ db: Database, _ whereClause: String, _ arguments: StatementArguments) throws
        -> [AttachmentRow]
    {
        try Row.fetchAll(
            db, sql: "SELECT * FROM attachment \(whereClause) ORDER BY created_at, id", arguments: arguments
        )
        .map(decode)
    }

    /// A hand-edited row (a wrong type, a NULL, a number out of range) is reported, never trapped on:
    /// GRDB's non-optional subscripts stop the process on a value they cannot convert, and a daemon
    /// that stops on every start is a crash loop.
    private static func decode(_ r: Row) throws -> AttachmentRow {
        func raw(_ column: String) -> DatabaseValue { r.hasColumn(column) ? r[column] as DatabaseValue : .null }
        let id = String.fromDatabaseValue(raw("id")) ?? "?"
        func value<T: DatabaseValueConvertible>(_ column: String, _: T.Type) throws -> T {
            let raw = raw(column)
            guard let v = T.fromDatabaseValue(raw) else {
                throw StateDatabaseFailure.corrupt(
                    "state.sqlite", "attachment '\(LogText.escaped(id))': \(column) holds \(raw), not \(T.self)")
            }
            return v
        }
        let optionsText = try value("options", String.self)
        var options: [String: JSONValue] = [:]
        if case .object(let o) = JSONValue.parse(canonical: optionsText) { options = o }
        let attachedAt = Double.fromDatabaseValue(raw("attached_at"))
        return AttachmentRow(
            id: try value("id", String.self),
            dev: DeviceNumber(major: try value("dev_major", UInt32.self), minor: try value("dev_minor", UInt32.self)),
            devicePath: try value("device_path", String.self), deviceName: try value("device_name", String.self),
            filter: try value("filter", String.self), options: options,
            kernelOptions: try value("kernel_options", String.self),
            createdAt: Date(timeIntervalSince1970: try value("created_at", Double.self)),
            phase: AttachmentPhase(rawValue: try value("phase", String.self)) ?? .pending,
            error: String.fromDatabaseValue(raw("error")),
            attachedAt: attachedAt.map(Date.init(timeIntervalSince1970:)),
            deviceIdentity: String.fromDatabaseValue(raw("device_identity")))
    }
}
