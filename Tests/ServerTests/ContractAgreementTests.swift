// ContractAgreementTests: where the server and openapi/dmflt.yaml once disagreed, they now say the same.
import Foundation
import Testing

@testable import dmfltd

@Suite struct ContractAgreementTests {
    static let document: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("openapi/dmflt.yaml"), encoding: .utf8)) ?? ""
    }()

    /// The lines of one schema under components/schemas, up to the next schema.
    func schema(_ name: String) -> [Substring] {
        let lines = Self.document.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: Substring("    \(name):")) else { return [] }
        let rest = lines[(start + 1)...]
        let end = rest.firstIndex { $0.hasPrefix("    ") && !$0.hasPrefix("     ") } ?? lines.endIndex
        return Array(lines[(start + 1)..<end])
    }

    @Test func nullOptionsMeanNoneAndTheDocumentAllowsThem() async throws {
        let h = try APITestHarness()
        let r = await h.call(
            "PUT", "/v1/hosts/local/attachments/0", json: #"{"device":"7:0","filter":"stat","options":null}"#)
        #expect(r.status == 201)
        #expect(r.object["options"] as? NSDictionary == [:] as NSDictionary)
        let spec = schema("AttachmentSpec")
        let options = try #require(spec.firstIndex { $0.trimmingCharacters(in: .whitespaces) == "options:" })
        #expect(spec[options + 1].trimmingCharacters(in: .whitespaces) == #"type: [object, "null"]"#, "\(spec)")
        // Anything else that is not an object is still refused.
        let bad = await h.call(
            "PUT", "/v1/hosts/local/attachments/1", json: #"{"device":"7:0","filter":"stat","options":"x"}"#)
        #expect(bad.status == 400)
    }

    /// libmicrohttpd answers an over-long request line itself, in HTML; the document says so.
    @Test func anOverLongRequestLineIsTheDocumentedException() async throws {
        var router = Router()
        router.get("/v1/health") { _ in Response(status: 200) }
        try await withServer(HTTPApplication(router: router)) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                try c.send("GET /v1/health?\(String(repeating: "a", count: 40 * 1024)) HTTP/1.1\r\nHost: t\r\n\r\n")
                let head = try c.readHead()
                #expect(head.status == 414 || head.status == 431)
                #expect(head.headers["content-type"]?.hasPrefix("application/problem+json") != true)
            }
        }
        #expect(Self.document.contains("`414 URI Too Long`"))
    }
}
