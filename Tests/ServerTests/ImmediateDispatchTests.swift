// ImmediateDispatchTests: routes that never suspend are answered without a task, with the same answer, log and audit as through the async chain.
import Foundation
import Logging
import Testing

@testable import dmfltd

@Suite struct ImmediateDispatchTests {
    static let token = "operator-token-0123456789abcdef"

    /// A GET that never suspends, a GET that does, and a DELETE; logging, errors and token auth around them.
    static func app(_ logs: LogRecorder, mode: AccessLogMode = .all, extra: [any Middleware] = []) throws
        -> HTTPApplication
    {
        var router = Router()
        router.get("/v1/now", immediate: { _ in Response(status: 200, body: .bytes(Array("now".utf8))) })
        router.get("/v1/later") { _ in
            await Task.yield()
            return Response(status: 200, body: .bytes(Array("later".utf8)))
        }
        router.delete("/v1/thing") { _ in Response(status: 204) }
        return HTTPApplication(
            router: router,
            middlewares: [
                RequestLogging(logger: logs.logger("dmflt.http"), mode: mode), ErrorMapping(),
                BearerAuthentication(
                    tokens: try TokenStore(parsing: "operator \(token)\n"), audit: logs.logger("dmflt.audit")),
            ] + extra)
    }

    static func request(_ method: String, _ path: String, token: String? = Self.token) -> Request {
        Request(
            method: method, path: path, headers: HTTPHeaders(token.map { [("Authorization", "Bearer \($0)")] } ?? []))
    }

    @Test func aRouteThatNeverSuspendsIsAnsweredAtOnceAndLoggedOnce() async throws {
        let logs = LogRecorder()
        let app = try Self.app(logs)
        let now = try #require(try app.respondImmediately(to: Self.request("GET", "/v1/now")))
        #expect(now.status == 200 && String(decoding: now.bodyBytes ?? [], as: UTF8.self) == "now")
        #expect(logs.all.count == 1 && logs.all[0].contains("GET /v1/now 200 "), "\(logs.all)")
        // The async chain gives the same answer.
        let again = try await app.respond(to: Self.request("GET", "/v1/now"))
        #expect(again.status == 200 && again.bodyBytes == now.bodyBytes)
    }

    @Test func aRefusalIsAnsweredAtOnceToo() throws {
        let logs = LogRecorder()
        let refused = try #require(
            try Self.app(logs).respondImmediately(to: Self.request("GET", "/v1/now", token: "wrong")))
        #expect(refused.status == 401)
        #expect(logs.all.count == 1 && logs.all[0].contains("GET /v1/now 401 "), "\(logs.all)")
    }

    /// nil, and nothing logged: the async chain then serves the request and logs it once.
    @Test func aRouteThatMaySuspendIsLeftToTheAsyncChain() async throws {
        let logs = LogRecorder()
        let app = try Self.app(logs)
        #expect(try app.respondImmediately(to: Self.request("GET", "/v1/later")) == nil)
        #expect(try app.respondImmediately(to: Self.request("DELETE", "/v1/thing")) == nil)
        #expect(try app.respondImmediately(to: Self.request("GET", "/nowhere")) == nil)
        #expect(logs.all.isEmpty, "\(logs.all)")
        let later = try await app.respond(to: Self.request("GET", "/v1/later"))
        #expect(later.status == 200 && logs.all.count == 1)
    }

    /// A middleware with only an async `handle` (the protocol's default) keeps every route on the async chain.
    @Test func aMiddlewareWithoutAnImmediateFormKeepsTheAsyncChain() throws {
        struct AsyncOnly: Middleware {
            func handle(_ request: Request, next: Handler) async throws -> Response { try await next(request) }
        }
        let logs = LogRecorder()
        #expect(try Self.app(logs, extra: [AsyncOnly()]).respondImmediately(to: Self.request("GET", "/v1/now")) == nil)
        #expect(logs.all.isEmpty)
    }

    /// `--access-log mutations` leaves no line for reads and one for each mutation; `none` leaves
    /// none, but the audit line of a mutation is there whatever the mode.
    @Test func accessLogModesChooseTheLinesButNeverTheAudit() async throws {
        for mode in AccessLogMode.allCases {
            let logs = LogRecorder()
            let app = try Self.app(logs, mode: mode)
            _ = try await app.respond(to: Self.request("GET", "/v1/now"))
            _ = try app.respondImmediately(to: Self.request("GET", "/v1/now"))
            _ = try await app.respond(to: Self.request("DELETE", "/v1/thing"))
            let access = logs.all.filter { !$0.contains("role=") }
            let audit = logs.all.filter { $0.contains("role=operator method=DELETE path=/v1/thing status=204") }
            #expect(audit.count == 1, "\(mode): \(logs.all)")
            switch mode {
            case .all: #expect(access.count == 3 && access[2].contains("DELETE /v1/thing 204 "), "\(logs.all)")
            case .mutations: #expect(access.count == 1 && access[0].contains("DELETE /v1/thing 204 "), "\(logs.all)")
            case .none: #expect(access.isEmpty, "\(logs.all)")
            }
        }
    }

    @Test func anUnknownAccessLogModeIsRefusedWithTheChoices() {
        #expect(throws: DaemonSettings.Invalid.self) {
            try DaemonSettings(
                listen: "127.0.0.1:7450", stateDir: "/tmp/x", hostName: "h", tokenFile: nil, peers: [], tlsCert: nil,
                tlsKey: nil, insecure: false, accessLog: "some")
        }
        do {
            _ = try DaemonSettings(
                listen: "127.0.0.1:7450", stateDir: "/tmp/x", hostName: "h", tokenFile: nil, peers: [], tlsCert: nil,
                tlsKey: nil, insecure: false, accessLog: "some")
        } catch {
            #expect("\(error)" == "--access-log must be one of all, mutations, none, not 'some'")
        }
    }
}
