// PeerHealthChecker: asks every peer's GET /v1/host on a fixed interval and records up/down in the directory.
import Engine
import Foundation

struct PeerHealthChecker: Sendable {
    let directory: PeerDirectory
    let transport: any PeerTransport
    let clusterToken: String?
    let timeoutSeconds: Double
    let intervalSeconds: Double

    /// Until cancelled; the first round runs at once so /v1/hosts knows its peers soon after start.
    func run() async {
        while !Task.isCancelled {
            await checkAll()
            try? await Task.sleep(for: .milliseconds(Int64(intervalSeconds * 1000)))
        }
    }

    func checkAll() async {
        await withTaskGroup(of: Void.self) { group in
            for peer in directory.peers() { group.addTask { await check(peer) } }
        }
    }

    func check(_ peer: PeerRecord) async {
        let call = PeerCall(
            method: "GET", url: peer.url + "/v1/host",
            headers: HTTPHeaders([("Accept", "application/json")]).signedForPeer(
                secret: clusterToken, method: "GET", path: "/v1/host", body: [], role: .reader, to: peer.name,
                via: directory.selfName),
            body: [])
        var seen = PeerHealth(status: .down)
        do {
            let answer = try await transport.send(call, timeoutSeconds: timeoutSeconds, streamUnsized: false)
            if answer.status == 200, case .bytes(let body) = answer.body,
                case .object(let host)? = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(body))
            {
                seen = PeerHealth(status: .up, lastSeen: Date())
                if case .string(let v)? = host["version"] { seen.version = v }
                if case .bool(let b)? = host["filterIoctl"] { seen.filterIoctl = b }
            } else {
                // The peer's own reason (a secret that differs, a name that is not its --host-name) says
                // what to fix; the status alone does not.
                var detail = "GET /v1/host answered \(answer.status)"
                if case .bytes(let body) = answer.body,
                    case .object(let problem)? = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(body)),
                    case .string(let reason)? = problem["detail"]
                {
                    detail += ": " + reason
                }
                seen.detail = detail
            }
        } catch {
            seen.detail = error.problem(host: peer.name, timeoutSeconds: timeoutSeconds).detail
        }
        directory.record(seen, for: peer.name, checkedURL: peer.url)
    }
}
