// DaemonAPI: the v1 routes of this host and their handlers (peers and stats register theirs beside them).
import Engine
import Foundation

struct DaemonAPI: Sendable {
    var hostName: String
    var version: String
    /// How peers and clients reach this daemon, shown in /v1/hosts.
    var url: String?
    var service: AttachmentService
    var probe: any HostProbe
    /// The daemon's count of its attaches and detaches: with it, the block devices and the kernel's
    /// attachments a list is made from are kept as KernelReadMemo keeps them; without it (tests), they
    /// are read for every list.
    var kernelChanges: KernelChanges? = nil
    let listCache = EncodedBodyCache<AttachmentListKey>()
    let listObserved = KernelReadMemo<ObservedForList>()
    /// Keyed by the kernel's facts alone: the name and version are the daemon's, fixed for its life.
    let hostCache = EncodedBodyCache<HostFacts>()
    let healthCache = EncodedBodyCache<HealthResource>()

    /// `members`: whether GET /v1/hosts is this host alone; a cluster registers its own.
    func register(into router: inout Router, members: Bool = true) {
        // The reads below never suspend (memory, caches, sysfs, an ioctl): they are served without a task.
        router.get(
            "/v1/health", immediate: { _ in try healthCache.response(for: HealthResource()) { try Response.json($0) } })
        router.get(
            "/v1/host",
            immediate: { _ in
                // The probe keeps the facts briefly (KernelHostProbe); the encoding is reused while they are equal.
                try hostCache.response(for: probe.probe()) {
                    try Response.json(HostResource(name: hostName, version: version, facts: $0))
                }
            })
        if members { router.get("/v1/hosts", immediate: { _ in try listHosts() }) }
        router.get("/v1/filters", immediate: { _ in try listFilters() })
        router.get(
            "/v1/hosts/{host}/devices",
            immediate: { r in
                try checkHost(r)
                return try listDevices()
            })
        router.get(
            "/v1/hosts/{host}/attachments",
            immediate: { r in
                try checkHost(r)
                return try listAttachments()
            })
        router.post("/v1/hosts/{host}/attachments") { r in
            try checkHost(r)
            return try await create(r, id: nil)
        }
        router.get(
            "/v1/hosts/{host}/attachments/{id}",
            immediate: { r in
                try checkHost(r)
                return try getAttachment(try attachmentID(r))
            })
        router.put("/v1/hosts/{host}/attachments/{id}") { r in
            try checkHost(r)
            let id = try attachmentID(r)
            try AttachmentID.validateClientChosen(id)
            return try await create(r, id: id)
        }
        router.delete("/v1/hosts/{host}/attachments/{id}") { r in
            try checkHost(r)
            let id = try attachmentID(r)
            guard let report = try await service.delete(id: id, force: try Self.force(r)) else {
                return Response(status: 204)
            }
            return try Response.json(JSONValue.object(report))
        }
        router.post("/v1/hosts/{host}/attachments/{id}/messages") { r in
            try checkHost(r)
            let id = try attachmentID(r)
            let message = try MessageRequest(r)
            return try Response.json(
                MessageReplyResource(reply: try await service.message(id: id, text: message.message)))
        }
        FilterOperationRoutes(api: self).register(into: &router)
    }

    // MARK: handlers

    private func listHosts() throws -> Response {
        let facts = probe.probe()
        let me = MemberResource(
            name: hostName, url: url, isSelf: true, status: "up", lastSeen: Date(), version: version,
            filterIoctl: facts.filterIoctl)
        return try Response.json(ItemList(items: [me]))
    }

    private func listFilters() throws -> Response {
        let kernelTypes = (try? service.control.listTypes()) ?? []
        return try Response.json(ItemList(items: service.catalog.entries(kernelTypes: kernelTypes)))
    }

    private func listDevices() throws -> Response {
        let list: [DeviceSummary]
        do { list = try service.devices.devices() } catch {
            throw Problem.internalError("Listing block devices failed: \(error)")
        }
        let attachments = try allAttachments(
            present: Dictionary(list.map { ($0.dev, $0.label) }, uniquingKeysWith: { a, _ in a }))
        let items = list.map { d in
            DeviceResource(device: d, attachments: attachments.filter { $0.device.dev == d.dev }.map(\.id))
        }
        return try Response.json(ItemList(items: items))
    }

    private func listAttachments() throws -> Response {
        // The generation is read first: a write that lands while the list is made changes it, so the
        // next request misses rather than reusing rows older than its key.
        let generation = service.store.generation
        let observed = listObserved.value(changes: kernelChanges) {
            ObservedForList(devices: service.devices.labels(), kernel: service.kernelView())
        }
        let key = AttachmentListKey(generation: generation, devices: observed.devices, kernel: observed.kernel)
        return try listCache.response(for: key) {
            try Response.json(ItemList(items: try allAttachments(present: $0.devices, kernel: $0.kernel)))
        }
    }

    private func getAttachment(_ id: String) throws -> Response {
        guard var one = try attachment(id) else {
            throw Problem.notFound("No attachment \(id) on this host.")
        }
        if one.phase == AttachmentPhase.attached.rawValue || one.phase == "unmanaged",
            let status = try? service.control.status(device: one.device.dev, filter: one.filter)
        {
            let decoded = service.catalog.filterStatus(filter: one.filter, text: status.text)
            one.counters = decoded.counters
            one.filterStatus = Self.withStorePaths(decoded.fields, options: one.options, filter: one.filter, service)
        }
        return try Response.json(one)
    }

    private func create(_ request: Request, id: String?) async throws -> Response {
        let body = try AttachRequest(request)
        let spec = try service.resolve(device: body.device, filter: body.filter, options: body.options)
        let (row, created) = try await service.create(
            id: id ?? AttachmentID.generate(filter: spec.filter.filter), spec: spec, repeatable: id != nil)
        var response = try Response.json(
            AttachmentResource(row, host: hostName, current: service.devices.device(row.dev)?.label),
            status: created ? 201 : 200)
        if created { response.headers.set("Location", "/v1/hosts/\(hostName)/attachments/\(row.id)") }
        return response
    }

    // MARK: helpers

    /// Managed rows first (oldest first), then what the kernel has that no row claims. Devices come
    /// from one inventory read (`present`, or read here): looking each row's device up on its own costs
    /// a sysfs scan per absent device, which made a list of 1,000 waiting attachments take 0.7 s.
    private func allAttachments(present: [DeviceNumber: DeviceLabel]? = nil, kernel view: KernelView? = nil)
        throws(Problem) -> [AttachmentResource]
    {
        let rows: [AttachmentRow]
        do { rows = try service.store.rows() } catch { throw Problem.store(error) }
        let byDev = present ?? service.devices.labels()
        var items = rows.map { AttachmentResource($0, host: hostName, current: byDev[$0.dev]) }
        if case .attachments(let kernel) = view ?? service.kernelView() {
            items += ReconcilePlan.unmanaged(rows: rows, kernel: kernel).map {
                AttachmentResource(unmanaged: $0, host: hostName, current: byDev[$0.device])
            }
        }
        return items
    }

    /// One attachment by id: its row, or (for an `unmanaged-` id) the kernel's list.
    func attachment(_ id: String) throws(Problem) -> AttachmentResource? {
        let row: AttachmentRow?
        do { row = try service.store.row(id: id) } catch { throw Problem.store(error) }
        if let row { return AttachmentResource(row, host: hostName, current: service.devices.device(row.dev)?.label) }
        guard id.hasPrefix("unmanaged-") else { return nil }
        return try allAttachments().first { $0.id == id }
    }

    func checkHost(_ request: Request) throws(Problem) {
        let host = request.pathParameters["host"] ?? ""
        guard host == hostName || host == "local" else {
            throw Problem(
                "not-found", status: 404, title: "Not found",
                detail:
                    "No host '\(JSONBody.printable(host))'; this is \(hostName) (or 'local'), and it has no peers yet.",
                extensions: ["host": JSONBody.printable(host)])
        }
    }

    func attachmentID(_ request: Request) throws(AttachmentError) -> String {
        let id = request.pathParameters["id"] ?? ""
        try AttachmentID.validateSyntax(id)
        return id
    }
}

extension DaemonAPI {
    /// `?force=true|false` of a DELETE; any other query argument or value is refused.
    static func force(_ r: Request) throws(Problem) -> Bool {
        var force = false
        for (name, value) in r.query {
            guard name == "force" else {
                throw Problem.invalidValue(
                    "Unknown query argument '\(JSONBody.printable(name))' for a detach; it takes force.")
            }
            guard value == "true" || value == "false" else {
                throw Problem.invalidValue("The query argument 'force' must be true or false.")
            }
            force = value == "true"
        }
        return force
    }
}

extension DaemonAPI {
    /// The kernel knows a store by its device number; the path the client gave is added beside it
    /// (cow's `diffStorage.path`).
    static func withStorePaths(
        _ fields: [String: JSONValue], options: [String: JSONValue], filter: String, _ service: AttachmentService
    ) -> [String: JSONValue] {
        var fields = fields
        for store in service.catalog.unit(named: filter)?.spec.stores ?? [] {
            let key = StatusWords.camelCase(store.option)
            guard case .object(var object) = fields[key], let path = options[store.option] else { continue }
            object["path"] = path
            fields[key] = .object(object)
        }
        return fields
    }
}
