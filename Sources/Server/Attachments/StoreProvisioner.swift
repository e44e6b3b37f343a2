// StoreProvisioner: turns a filter's store option (a block device or a file) into the block device the kernel writes to.
import Engine
import Foundation

/// One store made ready for an attach: the kernel's `option=MAJOR:MINOR` word, the file dmflt made
/// (nil when it used what was there), and the loop device to let go of once the kernel holds it.
struct PreparedStore: Sendable, Equatable {
    var word: String
    var createdFile: String?
    var loop: LoopHandle?
}

struct StoreProvisioner: Sendable {
    let host: any StoreHost

    /// What `prepare` will do with the path, decided before anything is made, so the row can
    /// record a file it is about to create (and a crash still removes it at detach).
    enum Plan: Sendable, Equatable {
        case device(DeviceNumber)
        case reuseFile
        case createFile(size: UInt64)
    }

    /// Checks the store named by `spec.option` for an attachment to `device`; touches nothing.
    func plan(_ spec: FilterStoreSpec, options: [String: JSONValue], filter: String, device: DeviceNumber)
        throws(AttachmentError) -> Plan
    {
        guard case .string(let path) = options[spec.option] else {
            throw .invalid("The \(filter) filter needs the option '\(spec.option)'.")
        }
        let size: UInt64? = if case .int(let n) = options[spec.sizeOption] { UInt64(n) } else { nil }
        switch host.kind(of: path) {
        case .blockDevice(let dev):
            try notOn(device, store: dev, path: path, option: spec.option, what: "is")
            return .device(dev)
        case .regularFile(let existing, let allocated, let on):
            try notOn(device, store: on, path: path, option: spec.option, what: "is on")
            guard allocated == 0 else {
                throw .invalid(
                    "The option '\(spec.option)' names \(path), a file that holds data; name a new or empty file, so that nothing in it is overwritten."
                )
            }
            guard let size else {
                throw .invalid(
                    "The option '\(spec.sizeOption)' is needed when '\(spec.option)' is a file: it is the file's size.")
            }
            return existing == size ? .reuseFile : .createFile(size: size)
        case .absent(let parent):
            guard let parent else {
                throw .invalid("The option '\(spec.option)' names \(path), whose directory does not exist.")
            }
            try notOn(device, store: parent, path: path, option: spec.option, what: "would be on")
            guard let size else {
                throw .invalid(
                    "The option '\(spec.sizeOption)' is needed when '\(spec.option)' is a file: it is the file's size.")
            }
            return .createFile(size: size)
        case .other(let what):
            throw .invalid("The option '\(spec.option)' names \(path), which is \(what).")
        }
    }

    /// Makes the store ready. A file it made stays when a later step fails: the caller recorded
    /// it (the row's createdFile) and removes it with the row.
    func prepare(_ spec: FilterStoreSpec, options: [String: JSONValue], plan: Plan) throws(AttachmentError)
        -> PreparedStore
    {
        guard case .string(let path) = options[spec.option] else {
            throw .invalid("The option '\(spec.option)' is missing.")
        }
        var created: String?
        switch plan {
        case .device(let dev):
            return PreparedStore(word: "\(spec.option)=\(dev)", createdFile: nil, loop: nil)
        case .reuseFile:
            break
        case .createFile(let size):
            do throws(StoreHostError) {
                try host.createFile(path, size: size)
            } catch {
                throw .storeUnusable("The \(spec.option) file cannot be made: \(error.description).")
            }
            created = path
        }
        do throws(StoreHostError) {
            let loop = try host.attachLoop(file: path)
            return PreparedStore(word: "\(spec.option)=\(loop.dev)", createdFile: created, loop: loop)
        } catch {
            throw .storeUnusable("The \(spec.option) file \(path) cannot be used: \(error.description).")
        }
    }

    /// Once the kernel has (or has refused) the store: dmflt's own hold on its loop device goes.
    func release(_ store: PreparedStore) {
        if let loop = store.loop { host.close(loop) }
    }

    /// Diff storage on the device it protects would be overwritten by the writes it saves, and
    /// could never be read back after the device fails: refused, whole disk and partitions alike.
    private func notOn(_ device: DeviceNumber, store: DeviceNumber, path: String, option: String, what: String)
        throws(AttachmentError)
    {
        if store == device || host.wholeDisk(of: store) == host.wholeDisk(of: device) {
            throw .invalid(
                "The option '\(option)' names \(path), which \(what) \(store), the device being filtered (\(device)) or a partition of the same disk; put it on another device."
            )
        }
    }
}
