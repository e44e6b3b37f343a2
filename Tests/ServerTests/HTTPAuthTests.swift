// HTTPAuthTests: token file parsing, constant-time lookup, and the bearer middleware (roles, 401/403, audit).
import Foundation
import Logging
import Testing

@testable import dmfltd

struct HTTPAuthTests {
    static let readerToken = "reader-token-0123456789abcdef"
    static let operatorToken = "operator-token-0123456789abcdef"
    static let file = """
        # dmflt tokens
        reader \(readerToken)

        operator\t\(operatorToken)
        """

    @Test func bearerTokenParsing() {
        #expect(BearerAuthentication.bearerToken("Bearer abc") == "abc")
        #expect(BearerAuthentication.bearerToken("bEaReR  abc \t") == "abc")
        #expect(BearerAuthentication.bearerToken("  Bearer\tabc") == "abc")
        #expect(BearerAuthentication.bearerToken("Bearer") == nil)
        #expect(BearerAuthentication.bearerToken("Bearer   ") == nil)
        #expect(BearerAuthentication.bearerToken("Bearerabc") == nil)
        #expect(BearerAuthentication.bearerToken("Basic abc") == nil)
        #expect(BearerAuthentication.bearerToken("Bearex abc") == nil)
        #expect(BearerAuthentication.bearerToken(nil) == nil)
    }

    @Test func parsesRolesSkippingCommentsAndBlanks() throws {
        let store = try TokenStore(parsing: Self.file)
        #expect(store.count == 2)
        #expect(store.role(forToken: Self.readerToken.utf8) == .reader)
        #expect(store.role(forToken: Self.operatorToken.utf8) == .operator)
    }

    @Test func refusesWrongTokensIncludingNearMisses() throws {
        let store = try TokenStore(parsing: Self.file)
        let t = Self.operatorToken
        for wrong in [
            "", String(t.dropLast()), t + "x", "x" + t.dropFirst(), String(t.prefix(16)), t.uppercased(), "reader",
        ] {
            #expect(store.role(forToken: wrong.utf8) == nil, "\(wrong)")
        }
    }

    @Test(arguments: [
        ("admin abcdefghijklmnopqrstuvwxyz", "line 1", "unknown role"),
        ("reader short", "line 1", "at least 16"),
        ("# c\n\nreader abcdefghijklmnop extra", "line 3", "two fields"),
        ("reader abcdefghijklmnop\noperator abcdefghijklmnop", "line 2", "earlier line"),
        ("operator abcdefghijklmnop\u{e9}", "line 1", "characters outside"),
        ("# only a comment\n", "no tokens", "no tokens"),
    ])
    func refusesBadLinesNamingTheLineButNotTheToken(text: String, line: String, reason: String) {
        do {
            _ = try TokenStore(parsing: text, source: "tokens.txt")
            Issue.record("accepted \(text)")
        } catch {
            let message = "\(error)"
            #expect(message.contains(line))
            #expect(message.contains(reason))
            #expect(!message.contains("abcdefghijklmnop"), "the token leaked into: \(message)")
        }
    }

    @Test func refusesATokenFileOthersCanRead() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tokens-\(UUID()).txt").path
        defer { unlink(path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(Self.file.utf8)))
        chmod(path, 0o644)
        #expect { try TokenStore(contentsOf: path) } throws: { "\($0)".contains("chmod o-rwx") }
        chmod(path, 0o640)
        #expect(try TokenStore(contentsOf: path).count == 2)
        #expect { try TokenStore(contentsOf: path + ".missing") } throws: { "\($0)".contains("No such file") }
    }

    static func app(tokens: TokenStore?, audit: Logger) -> HTTPApplication {
        var r = Router()
        r.get("/v1/health") { _ in Response(status: 200) }
        r.get("/v1/host") { req in Response(status: 200, body: .bytes(Array((req.role?.rawValue ?? "none").utf8))) }
        r.post("/v1/hosts/{host}/attachments") { _ in Response(status: 201) }
        r.delete("/v1/hosts/{host}/attachments/{id}") { _ in throw Problem.notFound("no such attachment") }
        return HTTPApplication(
            router: r, middlewares: [ErrorMapping(), BearerAuthentication(tokens: tokens, audit: audit)])
    }

    static func request(_ method: String, _ path: String, token: String? = nil) -> Request {
        var h = HTTPHeaders()
        if let token { h.set("Authorization", "Bearer \(token)") }
        return Request(method: method, path: path, headers: h, remoteAddress: "127.0.0.1:4000")
    }

    @Test func enforcesRolesAndAnswersProblems() async throws {
        let logs = LogRecorder()
        let app = Self.app(tokens: try TokenStore(parsing: Self.file), audit: logs.logger("dmflt.audit"))
        let health = try await app.respond(to: Self.request("GET", "/v1/health"))
        #expect(health.status == 200)
        let missing = try await app.respond(to: Self.request("GET", "/v1/host"))
        #expect(missing.status == 401)
        #expect(missing.headers["WWW-Authenticate"]?.hasPrefix("Bearer") == true)
        #expect(missing.headers["Content-Type"] == "application/problem+json")
        let invalid = try await app.respond(to: Self.request("GET", "/v1/host", token: "not-a-valid-token-at-all"))
        #expect(invalid.status == 401)
        #expect(invalid.headers["WWW-Authenticate"]?.contains("invalid_token") == true)
        var basic = Self.request("GET", "/v1/host")
        basic.headers.set("Authorization", "Basic \(Self.readerToken)")
        #expect(try await app.respond(to: basic).status == 401)
        let read = try await app.respond(to: Self.request("GET", "/v1/host", token: Self.readerToken))
        #expect(read.status == 200 && read.bodyBytes == Array("reader".utf8))
        let readerWrite = try await app.respond(
            to: Self.request("POST", "/v1/hosts/local/attachments", token: Self.readerToken))
        #expect(readerWrite.status == 403)
        let write = try await app.respond(
            to: Self.request("POST", "/v1/hosts/local/attachments", token: Self.operatorToken))
        #expect(write.status == 201)
        let del = try await app.respond(
            to: Self.request("DELETE", "/v1/hosts/local/attachments/a1", token: Self.operatorToken))
        #expect(del.status == 404)
        // Unknown paths still need a token: their existence is not revealed to strangers.
        #expect(try await app.respond(to: Self.request("GET", "/v1/secret-route")).status == 401)

        let audit = logs.all
        #expect(audit.count == 3, "one audit line per mutating request, GETs are not audited: \(audit)")
        #expect(audit[0].contains("role=reader method=POST path=/v1/hosts/local/attachments status=403"))
        #expect(audit[1].contains("role=operator method=POST path=/v1/hosts/local/attachments status=201"))
        #expect(audit[2].contains("role=operator method=DELETE path=/v1/hosts/local/attachments/a1 status=404"))
        #expect(!audit.joined().contains(Self.operatorToken) && !audit.joined().contains(Self.readerToken))
    }

    @Test func auditsRefusedWritesWithoutAToken() async throws {
        let logs = LogRecorder()
        let app = Self.app(tokens: try TokenStore(parsing: Self.file), audit: logs.logger("dmflt.audit"))
        let r = try await app.respond(
            to: Self.request("POST", "/v1/hosts/local/attachments", token: "wrong-but-long-enough-token"))
        #expect(r.status == 401)
        #expect(
            logs.all.count == 1 && logs.all[0].contains("role=anonymous method=POST")
                && logs.all[0].contains("status=401"))
        #expect(!logs.all[0].contains("wrong-but-long-enough-token"))
    }

    @Test func withoutATokenFileEveryoneIsAnOperatorAndWritesAreStillAudited() async throws {
        let logs = LogRecorder()
        let app = Self.app(tokens: nil, audit: logs.logger("dmflt.audit"))
        let read = try await app.respond(to: Self.request("GET", "/v1/host"))
        #expect(read.bodyBytes == Array("operator".utf8))
        #expect(try await app.respond(to: Self.request("POST", "/v1/hosts/local/attachments")).status == 201)
        #expect(logs.all.count == 1 && logs.all[0].contains("role=open method=POST"))
    }

    /// The middleware asks the holder at each request, so a replaced set takes effect at once.
    @Test func aReplacedTokenSetTakesEffectAtTheNextRequest() async throws {
        let tokens = ActiveTokens(try TokenStore(parsing: "operator \(Self.operatorToken)\n"))
        var r = Router()
        r.get("/v1/host") { _ in try Response.json(["ok": true]) }
        let app = HTTPApplication(router: r, middlewares: [ErrorMapping(), BearerAuthentication(tokens: tokens)])
        func status(_ token: String) async throws -> Int {
            var headers = HTTPHeaders()
            headers.set("Authorization", "Bearer \(token)")
            return try await app.respond(to: Request(method: "GET", path: "/v1/host", headers: headers)).status
        }
        #expect(try await status(Self.operatorToken) == 200)
        tokens.replace(with: try TokenStore(parsing: "operator rotated-operator-token-0123456789\n"))
        #expect(try await status(Self.operatorToken) == 401)
        #expect(try await status("rotated-operator-token-0123456789") == 200)
    }
}
