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
                        kernel_options, created_at, phase, error, attached_at, device_identity, created_file)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    row.id, row.dev.major, row.dev.minor, row.devicePath, row.deviceName, row.filter,
                    JSONValue.object(row.options).canonicalText, row.kernelOptions,
                    row.createdAt.timeIntervalSince1970, row.phase.rawValue, row.error,
                    row.attachedAt?.timeIntervalSince1970, row.deviceIdentity, row.createdFile,
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

    /// The attach text once the daemon has prepared the attachment's stores (their MAJOR:MINOR
    /// added), and the store file it makes, recorded before the file is made.
    func setPrepared(id: String, kernelOptions: String, createdFile: String?) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE attachment SET kernel_options = ?, created_file = ? WHERE id = ?",
                arguments: [kernelOptions, createdFile, id])
        }
    }

    /// Records (or, with nil, clears) why the attachment must never be recreated.
    func setLastingReason(id: String, reason: String?) throws {
        try write { db in
            try db.execute(sql: "UPDATE attachment SET lasting_reason = ? WHERE id = ?", arguments: [reason, id])
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
        let id = optional(r, "id", String.self) ?? "?"
        let optionsText = try value(r, id, "options", String.self)
        var options: [String: JSONValue] = [:]
        if case .object(let o) = JSONValue.parse(canonical: optionsText) { options = o }
        let attachedAt = optional(r, "attached_at", Double.self)
        let rowID = try value(r, id, "id", String.self)
        let major = try value(r, id, "dev_major", UInt32.self)
        let minor = try value(r, id, "dev_minor", UInt32.self)
        let devicePath = try value(r, id, "device_path", String.self)
        let deviceName = try value(r, id, "device_name", String.self)
        let filter = try value(r, id, "filter", String.self)
        let kernelOptions = try value(r, id, "kernel_options", String.self)
        let createdAt = try value(r, id, "created_at", Double.self)
        let phase = try value(r, id, "phase", String.self)
        return AttachmentRow(
            id: rowID, dev: DeviceNumber(major: major, minor: minor), devicePath: devicePath, deviceName: deviceName,
            filter: filter, options: options, kernelOptions: kernelOptions,
            createdAt: Date(timeIntervalSince1970: createdAt), phase: AttachmentPhase(rawValue: phase) ?? .pending,
            error: optional(r, "error", String.self),
            attachedAt: attachedAt.map(Date.init(timeIntervalSince1970:)),
            deviceIdentity: optional(r, "device_identity", String.self),
            createdFile: optional(r, "created_file", String.self),
            lastingReason: optional(r, "lasting_reason", String.self))
    }

    /// A column's value, NULL when the row has no such column.
    private static func column(_ r: Row, _ name: String) -> DatabaseValue {
        r.hasColumn(name) ? r[name] as DatabaseValue : .null
    }

    /// A column's value as T, nil when NULL, absent or of another type. Kept out of line, like
    /// `value`: swiftc 6.3's CopyPropagation fails on `decode` in -O builds ("Found ownership
    /// error", a borrow of the inlined DatabaseValue switch) when these are inlined into it.
    @inline(never)
    private static func optional<T: DatabaseValueConvertible>(_ r: Row, _ name: String, _: T.Type) -> T? {
        T.fromDatabaseValue(column(r, name))
    }

    /// A column's value as T, or `corrupt` naming the attachment and the column.
    @inline(never)
    private static func value<T: DatabaseValueConvertible>(_ r: Row, _ id: String, _ name: String, _: T.Type) throws
        -> T
    {
        let raw = column(r, name)
        guard let v = T.fromDatabaseValue(raw) else {
            throw StateDatabaseFailure.corrupt(
                "state.sqlite", "attachment '\(LogText.escaped(id))': \(name) holds \(raw), not \(T.self)")
        }
        return v
    }
}
