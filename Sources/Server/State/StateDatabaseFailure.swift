// StateDatabaseFailure: what a failed state database call means to an operator, in words and without SQL text.
import Foundation
import GRDB

/// GRDB's own description of an error carries the SQL statement and its arguments; neither belongs in
/// an answer or a start-up message. This keeps SQLite's code and sentence and says what to do.
struct StateDatabaseFailure: Error, CustomStringConvertible, Equatable {
    enum Cause: Equatable {
        /// The disk holding the state directory is full.
        case full
        /// The directory or the file cannot be written (read-only mount, permissions).
        case readOnly
        /// The file is not a database, is damaged, or holds rows dmfltd cannot read (a hand edit).
        case corrupt
        /// Another process holds the database locked.
        case busy
        case other
    }

    var cause: Cause
    var description: String

    /// The state database and the peer list are both under --state-dir; `file` names the one that failed.
    static func from(_ error: any Error, file: String) -> StateDatabaseFailure {
        if let known = error as? StateDatabaseFailure { return known }
        guard let e = error as? DatabaseError else {
            return StateDatabaseFailure(cause: .other, description: "the state database \(file) failed: \(error)")
        }
        let sqlite = "SQLite error \(e.extendedResultCode.rawValue): \(e.message ?? "no message")"
        switch e.resultCode {
        case .SQLITE_FULL:
            return StateDatabaseFailure(
                cause: .full, description: "the disk holding \(file) is full (\(sqlite)); free space on it")
        case .SQLITE_READONLY, .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH, .SQLITE_IOERR:
            return StateDatabaseFailure(
                cause: .readOnly,
                description:
                    "\(file) cannot be written (\(sqlite)); --state-dir must be a writable directory of root's")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_FORMAT, .SQLITE_SCHEMA, .SQLITE_MISMATCH:
            return corrupt(file, sqlite)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StateDatabaseFailure(
                cause: .busy, description: "\(file) is locked by another process (\(sqlite)); retry later")
        default:
            return StateDatabaseFailure(cause: .other, description: "the state database \(file) failed (\(sqlite))")
        }
    }

    static func corrupt(_ file: String, _ why: String) -> StateDatabaseFailure {
        StateDatabaseFailure(
            cause: .corrupt,
            description:
                "\(file) is damaged or was edited by hand (\(why)); stop dmfltd, move the file away (dmfltd then starts with no desired state, and lists what the kernel has as unmanaged) or restore a copy"
        )
    }

    /// 503 while the state cannot be used (full, read-only, corrupt, locked): the daemon still serves
    /// what needs no state, and the cause is something an operator fixes. Anything else is a 500.
    var problem: Problem {
        if cause == .other {
            return Problem.internalError("The state database failed: \(description).")
        }
        return Problem(
            "state-unavailable", status: 503, title: "State database unavailable",
            detail: "The state database is unavailable: \(description).",
            headers: ["Retry-After": "30"])
    }
}
