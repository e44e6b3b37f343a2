// APITestHarness: the daemon's routes over fakes, called in-process without a socket.
import Engine
import Foundation

@testable import dmfltd

struct APIReply {
    var status: Int
    var contentType: String?
    var headers: HTTPHeaders
    var json: Any?
    /// The body as sent, for answers that are not JSON.
    var bytes: [UInt8] = []

    var object: [String: Any] { json as? [String: Any] ?? [:] }
    var items: [[String: Any]] { object["items"] as? [[String: Any]] ?? [] }
    var problemType: String? { object["type"] as? String }
    var phase: String? { (object["status"] as? [String: Any])?["phase"] as? String }
}

struct APITestHarness {
    let control = FakeFilterControl()
    let devices = FakeDevices([FakeDevices.loop(0), FakeDevices.loop(1)])
    let store: AttachmentStore
    let service: AttachmentService
    let router: Router
    let storeHost: FakeStoreHost

    /// `realCatalog`: the Engine's own catalog (real guard options) instead of FakeCatalog.
    init(store: AttachmentStore? = nil, realCatalog: Bool = false, storeHost: FakeStoreHost = FakeStoreHost()) throws {
        self.store = try store ?? AttachmentStore()
        self.storeHost = storeHost
        let catalog: any FilterCatalogView =
            realCatalog ? EngineFilterCatalog(catalog: .standard, devices: devices) : FakeCatalog()
        service = AttachmentService(
            store: self.store, control: control, devices: devices, catalog: catalog,
            stores: StoreProvisioner(host: storeHost))
        var r = Router()
        DaemonAPI(
            hostName: "testhost", version: "0.0.0-test", url: "http://127.0.0.1:7450", service: service,
            probe: FakeProbe(control: control)
        ).register(into: &r)
        router = r
    }

    func call(
        _ method: String, _ path: String, json: String? = nil, contentType: String? = "application/json",
        accept: String? = nil
    ) async -> APIReply {
        var headers = HTTPHeaders()
        if let contentType, json != nil { headers.set("Content-Type", contentType) }
        if let accept { headers.set("Accept", accept) }
        let (pathOnly, query) = Self.split(path)
        var request = Request(method: method, path: pathOnly, headers: headers, body: Array((json ?? "").utf8))
        request.query = query
        let response: Response
        switch router.match(method: method, path: pathOnly) {
        case .found(let handler, let template, let parameters):
            request.route = template
            request.pathParameters = parameters
            do {
                response = try await handler(request)
            } catch let error as any ProblemConvertible {
                response = error.problem.response()
            } catch {
                response = Problem.internalError("\(error)").response()
            }
        case .methodNotAllowed(_, let allowed):
            response = Problem.methodNotAllowed(method, allowed: allowed).response()
        case .notFound:
            response = Problem.notFound("no route").response()
        }
        let bytes = response.bodyBytes ?? []
        let json =
            bytes.isEmpty ? nil : try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        return APIReply(
            status: response.status, contentType: response.headers["Content-Type"], headers: response.headers,
            json: json, bytes: bytes)
    }

    /// "/a/b?x=1&y" -> ("/a/b", [("x", "1"), ("y", "")]).
    static func split(_ path: String) -> (String, [(name: String, value: String)]) {
        guard let q = path.firstIndex(of: "?") else { return (path, []) }
        let pairs = path[path.index(after: q)...].split(separator: "&").map { part -> (name: String, value: String) in
            let kv = part.split(separator: "=", maxSplits: 1)
            return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
        }
        return (String(path[..<q]), pairs)
    }

    func attach(_ id: String, device: String = "/dev/loop0", filter: String = "stat", options: String = "{}") async
        -> APIReply
    {
        await call(
            "PUT", "/v1/hosts/local/attachments/\(id)",
            json: #"{"device": "\#(device)", "filter": "\#(filter)", "options": \#(options)}"#)
    }
}
