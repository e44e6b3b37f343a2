// AttachmentService: attach, detach, message and reconcile, with the intent recorded before each kernel call.
import Engine
import Foundation

/// A request's device and filter after resolution and validation, ready to record.
struct ResolvedAttachSpec: Sendable {
    var dev: DeviceNumber
    var devicePath: String
    var deviceName: String
    var devicePresent: Bool
    var filter: ValidatedFilterSpec
    /// What identifies the device now at `dev` (DeviceIdentity); nil when absent or unidentifiable.
    var deviceIdentity: String? = nil
}

final class AttachmentService: Sendable {
    let store: AttachmentStore
    let control: any FilterControl
    let devices: any DeviceDirectory
    let catalog: any FilterCatalogView
    let stores: StoreProvisioner
    private let locks = DeviceLocks()
    private let now: @Sendable () -> Date
    /// Told the id of every attachment that is gone for good (statistics end its streams).
    private let detached: @Sendable (String) -> Void

    init(
        store: AttachmentStore, control: any FilterControl, devices: any DeviceDirectory,
        catalog: any FilterCatalogView, stores: StoreProvisioner = StoreProvisioner(host: LinuxStoreHost()),
        now: @escaping @Sendable () -> Date = { Date() }, detached: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.store = store
        self.control = control
        self.devices = devices
        self.catalog = catalog
        self.stores = stores
        self.now = now
        self.detached = detached
    }

    // MARK: resolving a request

    /// Resolves the device text and validates filter and options; touches nothing.
    func resolve(device text: String, filter: String, options: [String: JSONValue]) throws(AttachmentError)
        -> ResolvedAttachSpec
    {
        let validated: ValidatedFilterSpec
        do {
            validated = try catalog.validate(filter: filter, options: options)
        } catch {
            switch error {
            case .unknownFilter(let name): throw .unknownFilter(name)
            case .invalidOption(let why): throw .invalid(why)
            }
        }
        switch devices.lookup(text) {
        case .present(let d):
            try checkCopyTargets(of: d, filter: filter, options: validated.options)
            return ResolvedAttachSpec(
                dev: d.dev, devicePath: d.path, deviceName: d.name, devicePresent: true, filter: validated,
                deviceIdentity: DeviceIdentity.of(d))
        case .absent(let dev):
            return ResolvedAttachSpec(
                dev: dev, devicePath: "/dev/block/\(dev)", deviceName: "", devicePresent: false, filter: validated)
        case .invalid(let why):
            throw .invalid(why)
        }
    }

    /// A device the filter copies `device` onto (mirror's target) must hold all of it and share no
    /// storage with it; the kernel would refuse most of these too, but without saying why.
    private func checkCopyTargets(of device: DeviceSummary, filter: String, options: [String: JSONValue])
        throws(AttachmentError)
    {
        for option in catalog.unit(named: filter)?.spec.copyTargets ?? [] {
            guard case .string(let text) = options[option], case .present(let target) = devices.lookup(text) else {
                continue
            }
            let why: String? =
                switch devices.relation(of: target.dev, to: device.dev) {
                case .same: "is the device itself"
                case .sameDisk: "is on the same disk as the device (a partition of it, or the disk it is on)"
                case .stackedOn: "is stacked on the device (it holds it)"
                case .under: "holds the device (the device is stacked on it)"
                case nil:
                    target.sizeBytes < device.sizeBytes
                        ? "is smaller than the device (\(target.sizeBytes) < \(device.sizeBytes) bytes)" : nil
                }
            if let why {
                throw .invalid("Option \(option): \(target.path) \(why); \(filter) needs another device to copy onto.")
            }
        }
    }

    // MARK: attach

    /// Records and attaches. Returns the row and whether it is new (false: a PUT repeating the same spec).
    func create(id: String, spec: ResolvedAttachSpec, repeatable: Bool) async throws(AttachmentError) -> (
        AttachmentRow, created: Bool
    ) {
        try await locks.with(spec.dev) { [self] () throws(AttachmentError) -> (AttachmentRow, created: Bool) in
            // Ask the kernel first: without the IOCTL, or with the filter attached by someone else, record nothing.
            let kernel = try kernelCall { () throws(FilterControlError) in try control.listAttachments() }.mapError(
                AttachmentError.kernel
            ).get()
            var row = AttachmentRow(
                id: id, dev: spec.dev, devicePath: spec.devicePath, deviceName: spec.deviceName,
                filter: spec.filter.filter, options: spec.filter.options, kernelOptions: spec.filter.kernelText,
                createdAt: now(), phase: spec.devicePresent ? .pending : .waitingDevice, error: nil, attachedAt: nil,
                deviceIdentity: spec.deviceIdentity)
            switch try storeCall({ try store.insert(row) }) {
            case .inserted:
                break
            case .idTaken(let existing):
                guard repeatable, existing.hasSameSpec(as: row) else {
                    throw .idTaken(id: id, holder: "\(existing.filter) on \(existing.dev)")
                }
                if existing.phase == .detaching { throw .beingDetached(id: id) }
                // A repeat after a crash or a failure converges here rather than waiting for the next pass.
                _ = try reconcileLocked(dev: existing.dev)
                return (try storeCall({ try store.row(id: id) }) ?? existing, created: false)
            case .deviceFilterTaken(let existing):
                throw .filterTaken(filter: existing.filter, dev: existing.dev, id: existing.id)
            }
            if let outside = kernel.first(where: { $0.device == spec.dev && $0.filter == row.filter }) {
                try storeCall { try store.delete(id: id) }
                throw .attachedOutside(
                    detail:
                        "\(row.filter) is already attached to \(spec.dev) outside dmflt (\(AttachmentID.unmanaged(outside)))."
                )
            }
            let type = catalog.unit(named: row.filter)?.spec
            let once = type?.attachOnce ?? false
            guard spec.devicePresent else {
                if once {
                    try storeCall { try store.delete(id: id) }
                    throw .deviceAbsent(dev: spec.dev, filter: row.filter)
                }
                return (row, created: true)
            }
            let prepared = try prepareStores(&row, type: type)
            defer { prepared.forEach(stores.release) }
            switch kernelCall({ () throws(FilterControlError) in
                try control.attach(device: row.dev, filter: row.filter, options: row.kernelOptions)
            }) {
            case .success:
                row.phase = .attached
                row.attachedAt = now()
            case .failure(let error) where error.kind == .noSuchDevice && !once:
                row.phase = .waitingDevice
            case .failure(let error):
                try forget(row)
                if error.kind == .noSuchDevice { throw .deviceAbsent(dev: spec.dev, filter: row.filter) }
                if error.kind == .alreadyAttached {
                    throw .attachedOutside(
                        detail:
                            "\(row.filter) was attached to \(spec.dev) outside dmflt meanwhile: \(error.description)")
                }
                throw .kernel(error)
            }
            try storeCall { try store.setStatus(id: id, phase: row.phase, error: nil, attachedAt: row.attachedAt) }
            return (row, created: true)
        }
    }

    /// Makes the type's stores ready and adds their words to the row's attach text; a file about to
    /// be made is recorded first, so that a crash before the attach still removes it at detach.
    private func prepareStores(_ row: inout AttachmentRow, type: FilterTypeSpec?) throws(AttachmentError)
        -> [PreparedStore]
    {
        guard let specs = type?.stores, !specs.isEmpty else { return [] }
        var prepared: [PreparedStore] = []
        do throws(AttachmentError) {
            var words = row.kernelOptions.isEmpty ? [] : [row.kernelOptions]
            for spec in specs {
                let plan = try stores.plan(spec, options: row.options, filter: row.filter, device: row.dev)
                if case .createFile = plan, case .string(let path) = row.options[spec.option] {
                    row.createdFile = path
                    try storeCall {
                        try store.setPrepared(id: row.id, kernelOptions: row.kernelOptions, createdFile: path)
                    }
                }
                let ready = try stores.prepare(spec, options: row.options, plan: plan)
                prepared.append(ready)
                words.append(ready.word)
            }
            row.kernelOptions = words.joined(separator: " ")
            try storeCall {
                try store.setPrepared(id: row.id, kernelOptions: row.kernelOptions, createdFile: row.createdFile)
            }
            return prepared
        } catch {
            prepared.forEach(stores.release)
            try forget(row)
            throw error
        }
    }

    /// The row goes, and with it the store file dmflt made for it.
    private func forget(_ row: AttachmentRow) throws(AttachmentError) {
        if let file = row.createdFile { stores.host.removeFile(file) }
        try storeCall { try store.delete(id: row.id) }
    }

    // MARK: detach

    /// `force`: for a type whose kernel refuses a detach as busy (cow while its image is open), its
    /// force message first (cow: the image fails with EIO), then the detach.
    /// Returns what the filter's type tells about what the detach left behind (mirror: an
    /// incomplete target), or nil.
    @discardableResult
    func delete(id: String, force: Bool = false) async throws(AttachmentError) -> [String: JSONValue]? {
        guard let first = try storeCall({ try store.row(id: id) }) else { throw missing(id) }
        return try await locks.with(first.dev) { [self] () throws(AttachmentError) -> [String: JSONValue]? in
            guard let row = try storeCall({ try store.row(id: id) }) else {
                throw .notFound(id: id)
            }
            let unit = catalog.unit(named: row.filter)
            let forceDetach = unit?.spec.forceDetach
            // the state the filter leaves behind, read while it is still there
            let lastStatus =
                row.phase == .attached
                ? try? kernelCall({ () throws(FilterControlError) in
                    try control.status(device: row.dev, filter: row.filter).text
                }).get() : nil
            try storeCall { try store.setStatus(id: id, phase: .detaching, error: nil, attachedAt: row.attachedAt) }
            if force, let forceDetach, row.phase == .attached {
                _ = kernelCall { () throws(FilterControlError) in
                    try control.message(device: row.dev, filter: row.filter, text: forceDetach.message)
                }
            }
            // Not attached (any more) counts as done: the goal of a detach is reached.
            var failure = detachFailure(row)
            if forceDetach?.type == "busy" {
                // udev opens a new image to probe it: busy just after the take is often over a moment later.
                for _ in 0..<10 where failure?.kind == .busy {
                    usleep(100_000)
                    failure = detachFailure(row)
                }
            }
            if let error = failure {
                if error.kind == .busy, let forceDetach {
                    // Nothing changed: the attachment stays as it was, and the caller decides.
                    try storeCall {
                        try store.setStatus(id: id, phase: row.phase, error: row.error, attachedAt: row.attachedAt)
                    }
                    throw .inUse(id: id, detail: forceDetach.busy, type: forceDetach.type)
                }
                // The row stays `detaching`, so the reconciler finishes the detach once the kernel lets it.
                try storeCall {
                    try store.setStatus(id: id, phase: .detaching, error: error.description, attachedAt: row.attachedAt)
                }
                throw .kernel(error)
            }
            try forget(row)
            detached(id)
            return lastStatus.flatMap { unit?.detachReport(statusText: $0) }
        }
    }

    // MARK: messages

    func message(id: String, text: String) async throws(AttachmentError) -> String {
        guard let first = try storeCall({ try store.row(id: id) }) else { throw missing(id) }
        return try await locks.with(first.dev) { [self] () throws(AttachmentError) -> String in
            guard let row = try storeCall({ try store.row(id: id) }) else {
                throw .notFound(id: id)
            }
            guard row.phase == .attached else {
                throw .notAttached(id: id, phase: row.phase)
            }
            // recorded first: a crash after the kernel took it must not let a reboot recreate the filter
            let words = text.split(separator: " ").joined(separator: " ")
            let lasting = catalog.unit(named: row.filter)?.spec.lastingMessages.first { $0.message == words }
            if let lasting, row.lastingReason == nil {
                let reason = lasting.reason(at: RFC3339.string(from: now()))
                try storeCall { try store.setLastingReason(id: id, reason: reason) }
            }
            let reply = kernelCall { () throws(FilterControlError) in
                try control.message(device: row.dev, filter: row.filter, text: text)
            }
            if case .failure = reply, lasting != nil, row.lastingReason == nil {
                try storeCall { try store.setLastingReason(id: id, reason: nil) }
            }
            return try reply.mapError(AttachmentError.kernel).get()
        }
    }

    // MARK: reading

    /// The kernel's attachments, or why they cannot be read.
    func kernelView() -> KernelView {
        do { return .attachments(try control.listAttachments()) } catch { return .unavailable(error.description) }
    }

    /// Not found, or unmanaged (read-only) when the kernel has it under that synthetic id.
    private func missing(_ id: String) -> AttachmentError {
        if id.hasPrefix(AttachmentID.unmanagedPrefix), case .attachments(let list) = kernelView(),
            list.contains(where: { AttachmentID.unmanaged($0) == id })
        {
            return .unmanaged(id: id)
        }
        return .notFound(id: id)
    }

    // MARK: reconcile

    /// One pass over every device with desired rows; returns how many actions failed.
    @discardableResult
    func reconcileAll() async -> Int {
        guard let rows = try? store.rows() else { return 1 }
        // One inventory read for the pass: a lookup per device scans sysfs whenever the device is absent.
        let inventory = try? devices.devices()
        let byDev = Dictionary((inventory ?? []).map { ($0.dev, $0) }, uniquingKeysWith: { first, _ in first })
        var errors = 0
        for dev in Set(rows.map(\.dev)).sorted() {
            let present: DeviceSummary?? = inventory == nil ? nil : .some(byDev[dev])
            do {
                errors += try await locks.with(dev) { [self] () throws(AttachmentError) -> Int in
                    try reconcileLocked(dev: dev, present: present)
                }
            } catch {
                errors += 1
            }
        }
        return errors
    }

    /// Brings one device's rows and the kernel together; the caller holds the device's lock.
    /// `present` is the device as a pass's inventory read saw it (nil: look it up now).
    @discardableResult
    private func reconcileLocked(dev: DeviceNumber, present seen: DeviceSummary?? = nil) throws(AttachmentError) -> Int
    {
        let all = try storeCall { try store.rows(on: dev) }
        let present = seen ?? devices.device(dev)
        let identity = present.flatMap(DeviceIdentity.of)
        // A row made for another device waits for that one: the number was handed to a different
        // device (a loop or dm number reused), which must not inherit the filter.
        var rows: [AttachmentRow] = []
        for row in all {
            if present != nil, let wanted = row.deviceIdentity,
                !DeviceIdentity.matches(stored: wanted, current: identity),
                row.phase != .detaching
            {
                let why =
                    "a different device now has \(dev) (\(identity ?? "unidentified")); this attachment is for \(wanted)"
                if row.phase != .waitingDevice || row.error != why {
                    try storeCall {
                        try store.setStatus(id: row.id, phase: .waitingDevice, error: why, attachedAt: nil)
                    }
                }
                continue
            }
            rows.append(row)
        }
        if let present {
            for row in rows where row.devicePath != present.path || row.deviceName != present.name {
                try storeCall { try store.setDeviceNames(id: row.id, path: present.path, name: present.name) }
            }
            // First sight of the device a row was made for by number alone: from now on it is that one.
            if let identity {
                for row in rows where row.deviceIdentity == nil {
                    try storeCall { try store.setDeviceIdentity(id: row.id, identity: identity) }
                }
            }
        }
        let kernel = kernelView()
        let once = Set(rows.map(\.filter).filter { catalog.unit(named: $0)?.spec.attachOnce == true })
        let actions = ReconcilePlan.actions(
            rows: rows, kernel: kernel, presentDevices: present == nil ? [] : [dev], attachOnce: once)
        var refused = 0
        for action in actions where !(try apply(action, rows: rows)) { refused += 1 }
        return refused
    }

    /// false when the kernel refused.
    private func apply(_ action: ReconcileAction, rows: [AttachmentRow]) throws(AttachmentError) -> Bool {
        switch action {
        case .attach(let id):
            guard let row = rows.first(where: { $0.id == id }) else { return true }
            switch kernelCall({ () throws(FilterControlError) in
                try control.attach(device: row.dev, filter: row.filter, options: row.kernelOptions)
            }) {
            case .success:
                try storeCall { try store.setStatus(id: id, phase: .attached, error: nil, attachedAt: now()) }
            case .failure(let error) where error.kind == .alreadyAttached:
                // Our own earlier attach whose outcome a crash kept from being recorded.
                try storeCall { try store.setStatus(id: id, phase: .attached, error: nil, attachedAt: now()) }
            case .failure(let error) where error.kind == .noSuchDevice:
                try storeCall { try store.setStatus(id: id, phase: .waitingDevice, error: nil, attachedAt: nil) }
            case .failure(let error):
                try storeCall { try store.setStatus(id: id, phase: .failed, error: error.description, attachedAt: nil) }
                return false
            }
        case .markAttached(let id, let at):
            try storeCall { try store.setStatus(id: id, phase: .attached, error: nil, attachedAt: at) }
        case .markWaiting(let id):
            try storeCall { try store.setStatus(id: id, phase: .waitingDevice, error: nil, attachedAt: nil) }
        case .markFailed(let id, let reason):
            try storeCall { try store.setStatus(id: id, phase: .failed, error: reason, attachedAt: nil) }
            return false
        case .finishDetach(let id):
            guard let row = rows.first(where: { $0.id == id }) else { return true }
            if let error = detachFailure(row) {
                try storeCall {
                    try store.setStatus(id: id, phase: .detaching, error: error.description, attachedAt: row.attachedAt)
                }
                return false
            }
            try forget(row)
            detached(id)
        case .forget(let id):
            guard let row = rows.first(where: { $0.id == id }) else { return true }
            try forget(row)
            detached(id)
        }
        return true
    }

    /// Detaches; nil when nothing is attached afterwards (including "was not attached").
    private func detachFailure(_ row: AttachmentRow) -> FilterControlError? {
        let result = kernelCall { () throws(FilterControlError) in
            try control.detach(device: row.dev, filter: row.filter)
        }
        guard case .failure(let error) = result else { return nil }
        return Self.leavesNothingAttached(error) ? nil : error
    }

    /// Only errors that prove the filter is not in the kernel: not attached, no such device, or a
    /// kernel without the filter IOCTL at all (ENOTTY: stock dm-mod; ENOENT: no dm-mod). A control
    /// device that cannot be opened for want of memory or descriptors proves nothing.
    static func leavesNothingAttached(_ error: FilterControlError) -> Bool {
        switch error.kind {
        case .notAttached, .noSuchDevice: return true
        case .ioctlUnavailable: return error.errno == ENOTTY || error.errno == ENOENT
        default: return false
        }
    }

    private func kernelCall<T>(_ body: () throws(FilterControlError) -> T) -> Result<T, FilterControlError> {
        do { return .success(try body()) } catch { return .failure(error) }
    }

    private func storeCall<T>(_ body: () throws -> T) throws(AttachmentError) -> T {
        do { return try body() } catch { throw .store(error) }
    }
}
