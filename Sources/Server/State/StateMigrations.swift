// StateMigrations: the versioned schema of the state database; a new version appends, never edits, a migration.
import GRDB

enum StateMigrations {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-attachments") { db in
            // UNIQUE(dev, filter) mirrors the kernel's rule: one attachment per filter type per device,
            // so two racing attaches cannot both be desired.
            try db.execute(
                sql: """
                    CREATE TABLE attachment (
                        id TEXT PRIMARY KEY NOT NULL,
                        dev_major INTEGER NOT NULL,
                        dev_minor INTEGER NOT NULL,
                        device_path TEXT NOT NULL,
                        device_name TEXT NOT NULL,
                        filter TEXT NOT NULL,
                        options TEXT NOT NULL,
                        kernel_options TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        phase TEXT NOT NULL,
                        error TEXT,
                        attached_at REAL,
                        UNIQUE (dev_major, dev_minor, filter)
                    )
                    """)
        }
        m.registerMigration("v2-device-identity") { db in
            // Rows from before keep NULL: their device is identified the next time it is seen.
            try db.execute(sql: "ALTER TABLE attachment ADD COLUMN device_identity TEXT")
        }
        m.registerMigration("v3-created-file") { db in
            // A store file (cow's diff storage) dmflt made for the attachment, removed when it goes.
            try db.execute(sql: "ALTER TABLE attachment ADD COLUMN created_file TEXT")
        }
        m.registerMigration("v4-lasting-reason") { db in
            // Set once a message made the attachment impossible to recreate (mirror's cutover).
            try db.execute(sql: "ALTER TABLE attachment ADD COLUMN lasting_reason TEXT")
        }
        return m
    }
}
