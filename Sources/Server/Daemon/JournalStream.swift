// JournalStream: whether standard error is journald's stream for this service ($JOURNAL_STREAM), so lines carry a priority.
#if canImport(Glibc)
    import Glibc
#endif

/// systemd sets `JOURNAL_STREAM=DEVICE:INODE` for the stream it connects to stdout/stderr. The
/// variable is inherited by children whose stderr may be something else (a redirect, a pipe to a
/// test), so only a descriptor with that same device and inode counts, as sd-daemon(3) advises.
enum JournalStream {
    /// The device and inode of `JOURNAL_STREAM`, or nil when it is missing or not two decimal numbers.
    static func identity(_ value: String?) -> (device: UInt64, inode: UInt64)? {
        guard let value else { return nil }
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return nil }
        return (device, inode)
    }

    /// True when `descriptor` is the stream `JOURNAL_STREAM` names.
    static func isJournal(_ descriptor: Int32, environment value: String?) -> Bool {
        guard let expected = identity(value) else { return false }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return false }
        return UInt64(info.st_dev) == expected.device && UInt64(info.st_ino) == expected.inode
    }
}
