// Router: matches method and path against route templates like "/v1/hosts/{host}/attachments/{id}".
import Foundation

public struct Router: Sendable {
    struct Route: Sendable {
        var method: String
        var template: String
        var segments: [Segment]
        var handler: Handler
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    public enum Match: Sendable {
        case found(Handler, template: String, parameters: [String: String])
        /// The path exists but not for this method; the methods it has, for `Allow`.
        case methodNotAllowed(template: String, allowed: [String])
        case notFound
    }

    private var routes: [Route] = []

    public init() {}

    public mutating func add(_ method: String, _ template: String, _ handler: @escaping Handler) {
        let segments = Router.split(template).map { s -> Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(s)
        }
        routes.append(Route(method: method, template: template, segments: segments, handler: handler))
    }

    public mutating func get(_ t: String, _ h: @escaping Handler) { add("GET", t, h) }
    public mutating func post(_ t: String, _ h: @escaping Handler) { add("POST", t, h) }
    public mutating func put(_ t: String, _ h: @escaping Handler) { add("PUT", t, h) }
    public mutating func delete(_ t: String, _ h: @escaping Handler) { add("DELETE", t, h) }

    public func match(method: String, path: String) -> Match {
        // Substrings of the path: only the parameters' values become Strings.
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        var allowed: [String] = []
        var allowedTemplate: String?
        for route in routes {
            guard let params = Router.bind(route.segments, parts) else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") {
                return .found(route.handler, template: route.template, parameters: params)
            }
            allowed.append(route.method)
            allowedTemplate = allowedTemplate ?? route.template
        }
        if let t = allowedTemplate { return .methodNotAllowed(template: t, allowed: allowed) }
        return .notFound
    }

    static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    static func bind(_ segments: [Segment], _ parts: [Substring]) -> [String: String]? {
        guard segments.count == parts.count else { return nil }
        var params: [String: String] = [:]
        for (s, p) in zip(segments, parts) {
            switch s {
            case .literal(let l): if l != p { return nil }
            case .parameter(let name): params[name] = String(p)
            }
        }
        return params
    }
}
