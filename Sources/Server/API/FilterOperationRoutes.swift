// FilterOperationRoutes: GET|POST /v1/hosts/{host}/attachments/{id}/{operation}, served by the attachment's filter type.
import Engine
import Foundation

/// The routes of every type's operations in one template: the type declares them, the router
/// knows none by name. Literal routes (`stats`, `messages`) are more specific and win.
struct FilterOperationRoutes: Sendable {
    let api: DaemonAPI

    static let template = "/v1/hosts/{host}/attachments/{id}/{operation}"

    func register(into router: inout Router) {
        router.get(Self.template) { r in try await handle(r) }
        router.post(Self.template) { r in try await handle(r) }
    }

    private func handle(_ request: Request) async throws -> Response {
        try api.checkHost(request)
        let id = try api.attachmentID(request)
        let name = request.pathParameters["operation"] ?? ""
        guard let attachment = try api.attachment(id) else {
            throw Problem.notFound("No attachment \(id) on this host.")
        }
        let unit = api.service.catalog.unit(named: attachment.filter)
        let operations = unit?.operations ?? []
        guard let operation = unit?.operation(named: name, method: request.method) else {
            let methods = operations.filter { $0.name == name }.map(\.method)
            if !methods.isEmpty {
                throw Problem(
                    "method-not-allowed", status: 405, title: "Method not allowed",
                    detail: "\(attachment.filter)'s \(name) takes \(methods.joined(separator: ", ")).",
                    headers: ["Allow": methods.joined(separator: ", ")])
            }
            throw Problem.noSuchOperation(
                filter: attachment.filter, name: name, available: operations.map { "\($0.method) \($0.name)" })
        }
        guard attachment.phase == AttachmentPhase.attached.rawValue || attachment.phase == "unmanaged" else {
            throw Problem(
                "not-attached", status: 409, title: "Not attached",
                detail: "\(id) is \(attachment.phase): its filter is not in the kernel, so it has no \(name).")
        }
        let query = try OperationQuery(request, operation: operation)
        var body: JSONValue?
        if request.method == "POST", !request.body.isEmpty {
            body = try JSONCoding.decoder.decode(JSONValue.self, from: Data(request.body))
        }
        let call = FilterOperationCall(
            device: attachment.device.dev, filter: attachment.filter, query: query.parameters, body: body,
            control: api.service.control, accept: request.headers["Accept"])
        if let cursor = operation.watch, query.watch {
            let first = try Self.run(operation, call)
            let stream = OperationWatchStream(
                operation: operation, cursor: cursor, call: call, first: first.body, interval: query.interval,
                framing: StreamFraming(format: StreamFormat(accept: request.headers["Accept"])))
            var headers = HTTPHeaders()
            headers.set("Content-Type", stream.framing.format.contentType)
            headers.set("Cache-Control", "no-cache")
            return Response(status: 200, headers: headers, body: .stream(stream))
        }
        let result = try Self.run(operation, call)
        if let file = result.file { return try FileRangeResponse.respond(file, request) }
        if let raw = result.raw {
            var headers = HTTPHeaders()
            headers.set("Content-Type", raw.contentType)
            return Response(status: result.status, headers: headers, body: .bytes(raw.bytes))
        }
        var headers = HTTPHeaders()
        headers.set("Content-Type", "application/json")
        return Response(status: result.status, headers: headers, body: .bytes(result.body.serialized()))
    }

    /// The type's own error reaches ErrorMapping, which shows it as its problem.
    static func run(_ operation: FilterTypeOperation, _ call: FilterOperationCall) throws(FilterOperationError)
        -> FilterOperationResult
    {
        try operation.handler(call)
    }
}

/// An operation's query: its own parameters, plus `watch` and `interval` where it can be watched.
struct OperationQuery {
    var parameters: [String: String] = [:]
    var watch = false
    var interval = Duration.seconds(1)

    init(_ request: Request, operation: FilterTypeOperation) throws(Problem) {
        var known = operation.parameters
        if operation.watch != nil { known += ["watch", "interval"] }
        for (name, value) in request.query {
            guard known.contains(name) else {
                let list = known.isEmpty ? "it takes none" : "it takes \(known.joined(separator: ", "))"
                throw Problem.invalidValue(
                    "Unknown query argument '\(JSONBody.printable(name))' for \(operation.name); \(list).")
            }
            parameters[name] = value
        }
        if operation.watch != nil {
            let watch = try WatchQuery(
                watch: parameters.removeValue(forKey: "watch"), interval: parameters.removeValue(forKey: "interval"))
            self.watch = watch.watch
            interval = watch.interval
        }
    }
}
