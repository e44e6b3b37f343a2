// LogInjectionTests: a hostile path, header or message never splits a log line or reaches the terminal raw.
import Foundation
import Logging
import Testing

@testable import dmfltd

@Suite struct LogInjectionTests {
    @Test func controlCharactersBecomeVisibleEscapes() {
        #expect(LogText.escaped("plain /v1/hosts/a ok") == "plain /v1/hosts/a ok")
        #expect(LogText.escaped("a\nb\rc\u{0}d\u{1b}[31me\\f\t") == #"a\nb\rc\x00d\x1b[31me\\f\t"#)
        #expect(LogText.escaped("\u{7f}\u{9b}\u{2028}é") == #"\x7f\x9b\u{2028}é"#)
    }

    @Test func metadataAndMessageOfOneEventStayOnOneLine() throws {
        let file = TemporaryLogFile()
        file.logger("dmflt.test").warning(
            "kernel said: oops\n2026-01-01T00:00:00+0000 info forged", metadata: ["device": "loop0\r\u{1b}[2J"])
        let text = try file.text()
        #expect(text.filter { $0 == "\n" }.count == 1 && text.hasSuffix("\n"))
        #expect(!text.contains("\r") && !text.contains("\u{1b}"))
        #expect(text.contains(#"device=loop0\r\x1b[2J"#) && text.contains(#"oops\n2026"#))
    }

    /// Refused (no token) and accepted (operator token) requests whose path carries a newline, a carriage
    /// return, a NUL and an ANSI escape: each leaves exactly its request line and its audit line.
    @Test func hostilePathsLeaveOneRequestLineAndOneAuditLineEach() async throws {
        let file = TemporaryLogFile()
        func logger(_ label: String) -> Logger { file.logger(label) }
        let token = "operator-token-0123456789abcdef"
        var router = Router()
        router.delete("/v1/hosts/{host}/attachments/{id}") { _ in Response(status: 204) }
        let app = HTTPApplication(
            router: router,
            middlewares: [
                RequestLogging(logger: logger("dmflt.http")), ErrorMapping(),
                BearerAuthentication(
                    tokens: try TokenStore(parsing: "operator \(token)\n"), audit: logger("dmflt.audit")),
            ])
        let hostile = [
            "a%0Afake-line", "a%0D2026-01-01T00:00:00+0000 info dmflt.audit: role=operator", "a%00b",
            "a%1B%5B31mred%1B%5B0m", "%E2%80%A8sep",
        ]
        try await withServer(app) { server in
            let port = server.port
            try await onThread {
                let client = try RawClient(port: port)
                for host in hostile {
                    let (refused, _) = try client.request("DELETE", "/v1/hosts/\(host)/attachments/x")
                    guard refused.status == 401 else { throw TestFailure("\(host): \(refused.status)") }
                    let (accepted, _) = try client.request(
                        "DELETE", "/v1/hosts/\(host)/attachments/x", headers: ["Authorization": "Bearer \(token)"])
                    // (libmicrohttpd ends the path at a decoded NUL, so "a%00b" asks for /v1/hosts/a: 404.)
                    guard accepted.status == 204 || accepted.status == 404 else {
                        throw TestFailure("\(host): \(accepted.status)")
                    }
                }
            }
        }
        let bytes = Array(try file.text().utf8)
        #expect(!bytes.contains(0x0D) && !bytes.contains(0x00) && !bytes.contains(0x1B))
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast()
        // Two requests per hostile path, each with one request line and one audit line.
        #expect(lines.count == hostile.count * 4, "\(lines)")
        let stamped = #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4} (info|notice) dmflt\.(http|audit): /#
        #expect(lines.allSatisfy { $0.prefixMatch(of: stamped) != nil }, "\(lines)")
        let audits = lines.filter { $0.contains(" dmflt.audit: ") }
        #expect(audits.count == hostile.count * 2)
        #expect(audits.contains { $0.contains(#"path=/v1/hosts/a\nfake-line/attachments/x status=401"#) })
        #expect(
            audits.contains {
                $0.contains(#"role=operator method=DELETE path=/v1/hosts/a\x1b[31mred\x1b[0m/attachments/x status=204"#)
            })
        #expect(audits.contains { $0.contains(#"path=/v1/hosts/\u{2028}sep/attachments/x"#) })
    }
}
