// PeerRoutes: the cluster routes: GET /v1/hosts, PUT/DELETE /v1/hosts/{name}, GET /v1/attachments and /v1/devices.
import Foundation

struct PeerRoutes: Sendable {
    let directory: PeerDirectory
    let fanOut: PeerFanOut
    let checker: PeerHealthChecker
    let version: String
    let probe: any HostProbe
    var memberRefusal: String? = nil

    /// Register before DaemonAPI's routes: the router takes the first match, and GET /v1/hosts is ours.
    func register(into router: inout Router) {
        router.get("/v1/hosts") { _ in
            try Response.json(
                ItemList(items: directory.members(selfVersion: version, selfFilterIoctl: probe.probe().filterIoctl)))
        }
        router.put("/v1/hosts/{name}") { r in try await put(r) }
        router.delete("/v1/hosts/{name}") { r in
            try directory.remove(name: r.pathParameters["name"] ?? "")
            return Response(status: 204)
        }
        router.get("/v1/attachments") { r in try await fanOut.list(.attachments, r) }
        router.get("/v1/devices") { r in try await fanOut.list(.devices, r) }
    }

    private func put(_ request: Request) async throws -> Response {
        let name = request.pathParameters["name"] ?? ""
        if let memberRefusal { throw Problem.conflict(memberRefusal) }
        try PeerName.validate(name)
        let url = try JSONBody(request, allowed: ["url"]).requiredString("url", maxLength: 2048)
        let created = try directory.put(name: name, url: url)
        // Check at once, so the answer (and the next GET /v1/hosts) says whether the peer is there.
        if let peer = directory.peer(named: name) { await checker.check(peer) }
        let member = directory.members(selfVersion: version, selfFilterIoctl: false).first { $0.name == name }
        var response = try Response.json(member, status: created ? 201 : 200)
        if created { response.headers.set("Location", "/v1/hosts/\(name)") }
        return response
    }
}
