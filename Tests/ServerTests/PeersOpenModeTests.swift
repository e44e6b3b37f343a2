// PeersOpenModeTests: a host without a token file adds no member at run time unless started with --insecure.
import Foundation
import Testing

@testable import dmfltd

@Suite struct PeersOpenModeTests {
    func put(refusal: String?) async throws -> (status: Int, members: Int, body: String) {
        let cluster = try PeerCluster(
            configuration: PeerConfiguration(), selfName: "a", selfURL: nil, storage: InMemoryPeerStorage(),
            transport: InProcessPeerTransport(), version: "0-test", probe: PeersTestProbe(), memberRefusal: refusal)
        var router = Router()
        cluster.register(into: &router, localRoutes: Router())
        let app = HTTPApplication(router: router, middlewares: [ErrorMapping()]).handler
        let r = try await app(
            Request(
                method: "PUT", path: "/v1/hosts/b", headers: HTTPHeaders([("Content-Type", "application/json")]),
                body: Array(#"{"url":"http://b:7450"}"#.utf8)))
        return (r.status, cluster.directory.peers().count, String(decoding: r.bodyBytes ?? [], as: UTF8.self))
    }

    @Test func anOpenHostRefusesANewMemberAndStoresNothing() async throws {
        let refused = try await put(refusal: "This host runs without --token-file, so it joins no cluster.")
        #expect(refused.status == 409 && refused.members == 0)
        #expect(refused.body.contains("urn:dmflt:problem:conflict") && refused.body.contains("--token-file"))
        let accepted = try await put(refusal: nil)
        #expect(accepted.status == 201 && accepted.members == 1)
    }
}
