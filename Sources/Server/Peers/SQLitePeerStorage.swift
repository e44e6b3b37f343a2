// SQLitePeerStorage: the member list in its own SQLite file (peers.sqlite) under --state-dir, with its own migrations.
import Foundation
import GRDB

/// A file of its own rather than a table in state.sqlite: the attachment store keeps its database
/// private and migrates it with its own migrator, so sharing a schema would couple two release cycles.
final class SQLitePeerStorage: PeerStorage {
    private let db: any DatabaseWriter

    convenience init(directory: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(5)
        let file = directory + "/peers.sqlite"
        do { try self.init(writer: DatabasePool(path: file, configuration: config)) } catch {
            throw StateDatabaseFailure.from(error, file: file)
        }
    }

    init(writer: any DatabaseWriter) throws {
        db = writer
        var m = DatabaseMigrator()
        m.registerMigration("peers-v1") { db in
            try db.execute(sql: "CREATE TABLE peer (name TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL)")
        }
        try m.migrate(writer)
    }

    func load() throws -> [PeerRecord] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT name, url FROM peer ORDER BY name").map {
                PeerRecord(name: $0["name"], url: $0["url"])
            }
        }
    }

    func save(_ record: PeerRecord) throws {
        try db.write { db in
            try db.execute(
                sql: "INSERT INTO peer (name, url) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET url = excluded.url",
                arguments: [record.name, record.url])
        }
    }

    func remove(name: String) throws {
        try db.write { db in try db.execute(sql: "DELETE FROM peer WHERE name = ?", arguments: [name]) }
    }
}
