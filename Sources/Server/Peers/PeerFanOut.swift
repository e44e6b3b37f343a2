// PeerFanOut: cluster-wide GET /v1/attachments and /v1/devices: every member at once, partial when some fail.
import Engine
import Foundation

struct PeerFanOut: Sendable {
    enum Resource: String, Sendable {
        case attachments, devices

        var allowedQuery: Set<String> { self == .attachments ? ["host", "device", "filter"] : ["host", "device"] }
    }

    struct HostError: Error, Encodable, Sendable, Equatable {
        var host: String
        var type: String
        var detail: String
    }

    let directory: PeerDirectory
    let transport: any PeerTransport
    let clusterToken: String?
    let timeoutSeconds: Double
    let parallelism: Int
    /// This host's own routes, answered in-process (no loopback HTTP call for the local member).
    let localRoutes: Router
    /// What one listing may hold of its peers' answers, split evenly over the peers it asks: with
    /// many peers or huge answers the listing reports those hosts' errors instead of growing.
    var answerBudget = PeerFanOut.defaultAnswerBudget

    static let defaultAnswerBudget = 64 << 20

    func list(_ resource: Resource, _ request: Request) async throws -> Response {
        if let unknown = request.query.first(where: { !resource.allowedQuery.contains($0.name) }) {
            throw Problem.invalidValue(
                "Unknown query parameter '\(JSONBody.printable(unknown.name))'; use \(resource.allowedQuery.sorted().joined(separator: ", "))."
            )
        }
        var peers = directory.peers()
        var askSelf = true
        if let host = request.queryValue("host") {
            if directory.isSelf(host) {
                peers = []
            } else {
                guard let p = directory.peer(named: host) else {
                    throw Problem.unknownHost(host, selfName: directory.selfName)
                }
                peers = [p]
                askSelf = false
            }
        }
        let results = await gather(resource, request, peers: peers, askSelf: askSelf)
        var items: [JSONValue] = []
        var errors: [HostError] = []
        // Members in directory order (this host, then peers by name), so the answer is stable.
        for name in (askSelf ? [directory.selfName] : []) + peers.map(\.name) {
            switch results[name] {
            case .success(let list)?: items += list.filter { Self.matches($0, resource, request) }
            case .failure(let e)?: errors.append(e)
            case nil:
                errors.append(
                    HostError(host: name, type: Problem.typeBase + "internal", detail: "No answer was recorded."))
            }
        }
        let body: JSONValue = .object([
            "items": .array(items), "errors": .array(errors.map(\.json)), "partial": .bool(!errors.isEmpty),
        ])
        return try Response.json(body)
    }

    private func gather(_ resource: Resource, _ request: Request, peers: [PeerRecord], askSelf: Bool) async
        -> [String: Result<[JSONValue], HostError>]
    {
        await withTaskGroup(of: (String, Result<[JSONValue], HostError>).self) { group in
            var results: [String: Result<[JSONValue], HostError>] = [:]
            if askSelf {
                group.addTask { (directory.selfName, await askLocal(resource, request)) }
            }
            var pending = peers[...]
            var running = askSelf ? 1 : 0
            func startNext() {
                guard let p = pending.popFirst() else { return }
                running += 1
                let share = max(1, answerBudget / max(1, peers.count))
                group.addTask { (p.name, await askPeer(p, resource, role: request.role, maxBytes: share)) }
            }
            while running < max(1, parallelism) + (askSelf ? 1 : 0), !pending.isEmpty { startNext() }
            for await (name, result) in group {
                results[name] = result
                running -= 1
                startNext()
            }
            return results
        }
    }

    private func askLocal(_ resource: Resource, _ request: Request) async -> Result<[JSONValue], HostError> {
        let path = "/v1/hosts/local/\(resource.rawValue)"
        guard case .found(let handler, let template, let parameters) = localRoutes.match(method: "GET", path: path)
        else {
            return .failure(error(directory.selfName, Problem.internalError("This host has no route \(path).")))
        }
        var local = Request(method: "GET", path: path, headers: request.headers, remoteAddress: request.remoteAddress)
        local.route = template
        local.pathParameters = parameters
        local.role = request.role
        do {
            let response = try await handler(local)
            return decode(directory.selfName, status: response.status, body: response.bodyBytes ?? [])
        } catch let p as any ProblemConvertible {
            return .failure(error(directory.selfName, p.problem))
        } catch {
            return .failure(self.error(directory.selfName, Problem.internalError("\(error)")))
        }
    }

    private func askPeer(_ peer: PeerRecord, _ resource: Resource, role: Role?, maxBytes: Int) async
        -> Result<[JSONValue], HostError>
    {
        let path = "/v1/hosts/local/\(resource.rawValue)"
        let call = PeerCall(
            method: "GET", url: peer.url + path,
            headers: HTTPHeaders([("Accept", "application/json")]).signedForPeer(
                secret: clusterToken, method: "GET", path: path, body: [], role: role, to: peer.name,
                via: directory.selfName),
            body: [], maxAnswerBytes: maxBytes)
        do {
            let answer = try await transport.send(call, timeoutSeconds: timeoutSeconds, streamUnsized: false)
            guard case .bytes(let body) = answer.body else {
                return .failure(error(peer.name, Problem.peerUnreachable(peer.name, reason: "unexpected stream")))
            }
            return decode(peer.name, status: answer.status, body: body)
        } catch {
            return .failure(self.error(peer.name, error.problem(host: peer.name, timeoutSeconds: timeoutSeconds)))
        }
    }

    /// A 2xx `{"items": [...]}` gives the items, each stamped with its host; anything else is that host's error.
    private func decode(_ host: String, status: Int, body: [UInt8]) -> Result<[JSONValue], HostError> {
        let value = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(body))
        guard (200..<300).contains(status) else {
            if case .object(let o)? = value, case .string(let type)? = o["type"] {
                var detail = ""
                if case .string(let d)? = o["detail"] { detail = d }
                return .failure(HostError(host: host, type: type, detail: detail))
            }
            return .failure(
                HostError(host: host, type: Problem.typeBase + "peer-error", detail: "The host answered \(status)."))
        }
        guard case .object(let o)? = value, case .array(let items)? = o["items"] else {
            return .failure(
                HostError(
                    host: host, type: Problem.typeBase + "peer-error", detail: "The host's answer has no item list."))
        }
        return .success(
            items.map { item in
                guard case .object(var fields) = item else { return item }
                if fields["host"] == nil { fields["host"] = .string(host) }
                return .object(fields)
            })
    }

    private func error(_ host: String, _ p: Problem) -> HostError {
        HostError(host: host, type: p.type, detail: p.detail)
    }

    /// `device` matches a device's path, name or MAJOR:MINOR; `filter` an attachment's filter type.
    static func matches(_ item: JSONValue, _ resource: Resource, _ request: Request) -> Bool {
        guard case .object(let fields) = item else { return false }
        if let device = request.queryValue("device") {
            var d = fields
            if resource == .attachments {
                guard case .object(let inner)? = fields["device"] else { return false }
                d = inner
            }
            let names = ["path", "name", "dev"].compactMap { key -> String? in
                if case .string(let s)? = d[key] { return s }
                return nil
            }
            let short = device.hasPrefix("/dev/") ? String(device.dropFirst(5)) : device
            guard names.contains(device) || names.contains(short) else { return false }
        }
        if let filter = request.queryValue("filter") {
            guard case .string(let f)? = fields["filter"], f == filter else { return false }
        }
        return true
    }
}

extension PeerFanOut.HostError {
    var json: JSONValue { .object(["host": .string(host), "type": .string(type), "detail": .string(detail)]) }
}
