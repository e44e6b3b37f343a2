// HTTPApplication: a Router plus middlewares folded into one Handler, runnable in-process without a socket.
import Foundation

/// The route is resolved first, so every middleware sees `request.route` (the template, for logs
/// and metrics) and an unknown path or method still passes through auth, logging and error mapping.
/// Middlewares run in array order, the first one outermost.
public struct HTTPApplication: Sendable {
    public let router: Router
    public let middlewares: [any Middleware]

    public init(router: Router, middlewares: [any Middleware] = []) {
        self.router = router
        self.middlewares = middlewares
    }

    /// The whole application as one handler, for `HTTPServer` or for tests.
    public var handler: Handler {
        let app = self
        return { request in try await app.respond(to: request) }
    }

    /// The application as a handler that answers without a task when the route and every middleware
    /// can (nil otherwise: then `handler` serves the request).
    public var immediateHandler: @Sendable (Request) throws -> Response? {
        let app = self
        return { request in try app.respondImmediately(to: request) }
    }

    public func respondImmediately(to incoming: Request) throws -> Response? {
        guard case .found(let route, let parameters) = router.resolve(method: incoming.method, path: incoming.path),
            let terminal = route.immediate
        else { return nil }
        var request = incoming
        request.route = route.template
        request.pathParameters = parameters
        return try immediately(from: 0, request, terminal)
    }

    /// Middleware `index` and the ones inside it, around `terminal`. Each `next` is a closure passed
    /// down and never kept, so it lives on the stack; folding the chain into stored closures would
    /// allocate one per middleware for every request.
    private func immediately(from index: Int, _ request: Request, _ terminal: SyncHandler) throws -> Response? {
        guard index < middlewares.count else { return try terminal(request) }
        return try middlewares[index].handleImmediately(request) { try immediately(from: index + 1, $0, terminal) }
    }

    public func respond(to incoming: Request) async throws -> Response {
        var request = incoming
        let terminal: Handler
        switch router.resolve(method: request.method, path: request.path) {
        case .found(let route, let parameters):
            request.route = route.template
            request.pathParameters = parameters
            terminal = route.handler
        case .methodNotAllowed(let template, let allowed):
            request.route = template
            let methods = Self.allowHeader(allowed)
            if request.method == "OPTIONS" {
                terminal = { _ in
                    Response(status: 204, headers: HTTPHeaders([("Allow", methods.joined(separator: ", "))]))
                }
            } else {
                terminal = { request in throw Problem.methodNotAllowed(request.method, allowed: methods) }
            }
        case .notFound:
            terminal = { request in throw Problem.notFound("There is no resource at \(request.path).") }
        }
        var next = terminal
        for middleware in middlewares.reversed() {
            let inner = next
            next = { request in try await middleware.handle(request, next: inner) }
        }
        return try await next(request)
    }

    /// The router's methods plus the ones the HTTP layer adds (HEAD for GET, OPTIONS), in a stable order.
    static func allowHeader(_ methods: [String]) -> [String] {
        var all = Set(methods)
        if all.contains("GET") { all.insert("HEAD") }
        all.insert("OPTIONS")
        let order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return order.filter(all.contains) + all.subtracting(order).sorted()
    }
}
