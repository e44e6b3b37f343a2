// HTTPRoutingTests: route matching and the application pipeline (middleware order, 404/405/OPTIONS, error mapping, logs).
import Engine
import Foundation
import Logging
import Synchronization
import Testing

@testable import dmfltd

struct HTTPRoutingTests {
    static func ok(_ tag: String) -> Handler { { _ in Response(status: 200, body: .bytes(Array(tag.utf8))) } }

    static func body(_ r: Response) -> String { String(decoding: r.bodyBytes ?? [], as: UTF8.self) }

    @Test func matchesLiteralsBeforeFallingBackAndBindsParameters() {
        var r = Router()
        r.get("/v1/hosts/{host}/attachments/{id}", Self.ok("one"))
        r.get("/v1/hosts/{host}/attachments", Self.ok("list"))
        r.delete("/v1/hosts/{host}/attachments/{id}", Self.ok("del"))
        guard case .found(_, let t, let p) = r.match(method: "GET", path: "/v1/hosts/local/attachments/a1") else {
            Issue.record("no match")
            return
        }
        #expect(t == "/v1/hosts/{host}/attachments/{id}")
        #expect(p == ["host": "local", "id": "a1"])
        guard case .found(_, let t2, _) = r.match(method: "HEAD", path: "/v1/hosts/local/attachments/") else {
            Issue.record("HEAD should use the GET route")
            return
        }
        #expect(t2 == "/v1/hosts/{host}/attachments")
        guard case .methodNotAllowed(_, let allowed) = r.match(method: "PUT", path: "/v1/hosts/x/attachments/a1") else {
            Issue.record("PUT should be 405")
            return
        }
        #expect(allowed == ["GET", "DELETE"])
        guard case .notFound = r.match(method: "GET", path: "/v1/hosts/x/attachments/a1/extra") else {
            Issue.record("a longer path must not match")
            return
        }
    }

    @Test func unknownPathsAndMethodsAreProblemsWithAllow() async throws {
        var r = Router()
        r.get("/v1/host", Self.ok("host"))
        r.post("/v1/things", Self.ok("made"))
        let app = HTTPApplication(router: r, middlewares: [ErrorMapping()])
        let missing = try await app.respond(to: Request(method: "GET", path: "/v2/nothing"))
        #expect(missing.status == 404)
        #expect(missing.headers["Content-Type"] == "application/problem+json")
        #expect(Self.body(missing).contains("\"type\":\"urn:dmflt:problem:not-found\""))
        let wrong = try await app.respond(to: Request(method: "PATCH", path: "/v1/host"))
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "GET, HEAD, OPTIONS")
        let options = try await app.respond(to: Request(method: "OPTIONS", path: "/v1/things"))
        #expect(options.status == 204)
        #expect(options.headers["Allow"] == "POST, OPTIONS")
    }

    final class Trace: Sendable {
        let trace = Mutex<[String]>([])
    }

    /// Appends its name on the way in and out, so the order is visible.
    struct Tracer: Middleware {
        let name: String
        let box: Trace
        func handle(_ request: Request, next: Handler) async throws -> Response {
            box.trace.withLock { $0.append("\(name)>") }
            defer { box.trace.withLock { $0.append("<\(name)") } }
            #expect(request.route == "/v1/items/{id}", "the route is resolved before any middleware runs")
            return try await next(request)
        }
    }

    @Test func middlewaresWrapTheHandlerFirstOutermost() async throws {
        let box = Trace()
        var r = Router()
        r.get("/v1/items/{id}") { req in
            box.trace.withLock { $0.append("handler:\(req.pathParameters["id"] ?? "")") }
            return Response(status: 200)
        }
        let app = HTTPApplication(
            router: r, middlewares: [Tracer(name: "a", box: box), Tracer(name: "b", box: box)])
        _ = try await app.respond(to: Request(method: "GET", path: "/v1/items/42"))
        #expect(box.trace.withLock { $0 } == ["a>", "b>", "handler:42", "<b", "<a"])
    }

    struct Secret: Error { let path = "/var/lib/dmflt/state.sqlite" }

    @Test func errorsBecomeProblemsAndInternalsStayInTheLog() async throws {
        let logs = LogRecorder()
        var r = Router()
        r.get("/problem") { _ in throw Problem.conflict("already attached") }
        r.get("/bug") { _ in throw Secret() }
        r.post("/decode") { req in
            struct Body: Decodable { var device: String }
            _ = try JSONDecoder().decode(Body.self, from: Data(req.body))
            return Response(status: 200)
        }
        let app = HTTPApplication(router: r, middlewares: [ErrorMapping(logger: logs.logger("dmflt.http"))])
        let conflict = try await app.respond(to: Request(method: "GET", path: "/problem"))
        #expect(conflict.status == 409)
        #expect(Self.body(conflict).contains("already attached"))
        let bug = try await app.respond(to: Request(method: "GET", path: "/bug"))
        #expect(bug.status == 500)
        #expect(bug.headers["Content-Type"] == "application/problem+json")
        #expect(!Self.body(bug).contains("state.sqlite"))
        #expect(logs.all.contains { $0.contains("state.sqlite") && $0.contains("/bug") })
        let decode = try await app.respond(to: Request(method: "POST", path: "/decode", body: Array("{}".utf8)))
        #expect(decode.status == 400)
        #expect(Self.body(decode).contains("device"))
    }

    /// A domain error maps itself: a filter type's refusal is its own problem type, never a 500.
    @Test func domainErrorsAreShownAsTheirOwnProblems() async throws {
        var r = Router()
        r.get("/refused") { _ in
            throw FilterOperationError(
                type: "generation-changed", status: 409, title: "Generation changed", detail: "x")
        }
        r.get("/kernel") { _ in
            throw FilterControlError(kind: .busy, operation: "attach", errno: 16, description: "device busy")
        }
        let app = HTTPApplication(router: r, middlewares: [ErrorMapping()])
        let refused = try await app.respond(to: Request(method: "GET", path: "/refused"))
        #expect(refused.status == 409)
        #expect(Self.body(refused).contains("urn:dmflt:problem:generation-changed"))
        let kernel = try await app.respond(to: Request(method: "GET", path: "/kernel"))
        #expect(kernel.status == 409)
        #expect(Self.body(kernel).contains("urn:dmflt:problem:busy"))
    }

    @Test func requestLogLinesUseTheRouteTemplateAndNeverTheToken() async throws {
        let logs = LogRecorder()
        var r = Router()
        r.get("/v1/hosts/{host}/attachments/{id}") { _ in Response(status: 200) }
        r.get("/v1/fail") { _ in throw Problem.notFound("gone") }
        let app = HTTPApplication(
            router: r, middlewares: [RequestLogging(logger: logs.logger("dmflt.http")), ErrorMapping()])
        let token = "SECRET-token-value-1234567890"
        _ = try await app.respond(
            to: Request(
                method: "GET", path: "/v1/hosts/node7/attachments/att-99",
                headers: HTTPHeaders([("Authorization", "Bearer \(token)")]), remoteAddress: "127.0.0.1:5555"))
        _ = try await app.respond(to: Request(method: "GET", path: "/v1/fail"))
        _ = try await app.respond(to: Request(method: "GET", path: "/nowhere/att-99"))
        let lines = logs.all
        #expect(lines.count == 3)
        #expect(lines[0].contains("GET /v1/hosts/{host}/attachments/{id} 200 "))
        #expect(lines[0].contains(" ms"))
        #expect(lines[1].contains("GET /v1/fail 404 "))
        #expect(lines[2].contains("(no route) 404"))
        #expect(!lines.joined().contains("att-99") && !lines.joined().contains("node7"))
        #expect(!lines.joined().contains(token))
    }

    @Test func parsesListenAddresses() throws {
        let v4 = try ListenAddress(parsing: "127.0.0.1:7450")
        #expect(v4.port == 7450 && v4.family == .ipv4 && v4.isLoopback)
        let v6 = try ListenAddress(parsing: "[::1]:7450")
        #expect(v6.host == "::1" && v6.family == .ipv6 && v6.isLoopback)
        #expect(v6.description == "[::1]:7450")
        #expect(try ListenAddress(parsing: "127.8.9.10:1").isLoopback)
        #expect(try ListenAddress(parsing: "[::ffff:127.0.0.1]:1").isLoopback)
        #expect(!(try ListenAddress(parsing: "0.0.0.0:7450")).isLoopback)
        #expect(!(try ListenAddress(parsing: "[::]:7450")).isLoopback)
        #expect(!(try ListenAddress(parsing: "192.168.1.10:80")).isLoopback)
        for bad in [
            "localhost:7450", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "::1:7450", "[::1]7450", "[zz]:1",
            "1.2.3:4", ":7450", "127.0.0.1:+80",
        ] {
            #expect(throws: ListenAddress.ParseError.self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
    }
}

struct HTTPHeaderNameTests {
    @Test func headerNamesMatchIgnoringASCIICaseOnly() {
        #expect(HTTPHeaders.sameName("Content-Length", "content-length"))
        #expect(HTTPHeaders.sameName("X-A_B", "x-a_b"))
        #expect(!HTTPHeaders.sameName("Content-Length", "Content-Lengt"))
        #expect(!HTTPHeaders.sameName("Accept", "Accept-Encoding"))
        // '@' (0x40) and '`' (0x60) differ by the case bit but are not letters.
        #expect(!HTTPHeaders.sameName("a@", "a`"))
        #expect(!HTTPHeaders.sameName("[", "{"))
        var h = HTTPHeaders([("authorization", "Bearer x")])
        #expect(h["Authorization"] == "Bearer x")
        h.set("AUTHORIZATION", "Bearer y")
        #expect(h.fields.count == 1 && h["authorization"] == "Bearer y")
    }
}
