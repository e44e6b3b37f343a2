// Router: matches method and path against route templates like "/v1/hosts/{host}/attachments/{id}", most specific first.
import Foundation

public struct Router: Sendable {
    struct Route: Sendable {
        var method: String
        var template: String
        var segments: [Segment]
        /// Routes of one shape (same literals, parameters in the same places) share this number.
        var shapeID: Int
        var handler: Handler
        /// The same handler, callable without a task, for routes that never suspend.
        var immediate: SyncHandler?
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
    /// The routes of each template without parameters, by that template: a path spelled exactly as
    /// one of them is answered without scanning every route (such a template is the most specific
    /// one for its path). Other spellings ("/v1/host/") go through the scan and get the same answer.
    private var exact: [String: [Route]] = [:]

    public init() {}

    /// A second route with the same method and the same shape (literals equal, parameters anywhere
    /// named) is a programming error: which one answered would depend on the order of registration.
    public mutating func add(
        _ method: String, _ template: String, _ handler: @escaping Handler, immediate: SyncHandler? = nil
    ) {
        let segments = Router.split(template).map { s -> Segment in
            s.hasPrefix("{") && s.hasSuffix("}") ? .parameter(String(s.dropFirst().dropLast())) : .literal(s)
        }
        let shape = Router.shape(segments)
        let sameShape = routes.first { Router.shape($0.segments) == shape }
        precondition(
            sameShape == nil || !routes.contains { $0.shapeID == sameShape!.shapeID && $0.method == method },
            "route \(method) \(template) is registered twice")
        let shapeID = sameShape?.shapeID ?? (routes.map(\.shapeID).max() ?? -1) + 1
        let route = Route(
            method: method, template: template, segments: segments, shapeID: shapeID, handler: handler,
            immediate: immediate)
        routes.append(route)
        if shape.allSatisfy({ $0 != nil }), template == "/" + shape.compactMap { $0 }.joined(separator: "/") {
            exact[template, default: []].append(route)
        }
    }

    /// Literals as themselves, parameters as nil: two templates of one shape match the same paths.
    static func shape(_ segments: [Segment]) -> [String?] {
        segments.map { if case .literal(let l) = $0 { l } else { nil } }
    }

    /// Whether `a` is more specific than `b`: at the first position where one has a literal and the
    /// other a parameter, the literal wins ("/attachments/{id}/stats" before "/attachments/{id}/{operation}").
    static func moreSpecific(_ a: [Segment], than b: [Segment]) -> Bool {
        for (x, y) in zip(a, b) {
            switch (x, y) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }

    public mutating func get(_ t: String, _ h: @escaping Handler) { add("GET", t, h) }
    /// A GET whose handler never suspends: served on the connection's thread without a task.
    public mutating func get(_ t: String, immediate h: @escaping SyncHandler) {
        add("GET", t, { try h($0) }, immediate: h)
    }
    public mutating func post(_ t: String, _ h: @escaping Handler) { add("POST", t, h) }
    public mutating func put(_ t: String, _ h: @escaping Handler) { add("PUT", t, h) }
    public mutating func delete(_ t: String, _ h: @escaping Handler) { add("DELETE", t, h) }

    public func match(method: String, path: String) -> Match {
        switch resolve(method: method, path: path) {
        case .found(let route, let parameters):
            return .found(route.handler, template: route.template, parameters: parameters)
        case .methodNotAllowed(let template, let allowed):
            return .methodNotAllowed(template: template, allowed: allowed)
        case .notFound: return .notFound
        }
    }

    /// `match`, with the whole route (its immediate handler too).
    enum Resolution {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(template: String, allowed: [String])
        case notFound
    }

    func resolve(method: String, path: String) -> Resolution {
        if let same = exact[path] {
            if let route = same.first(where: { $0.method == method })
                ?? same.first(where: {
                    method == "HEAD" && $0.method == "GET"
                })
            {
                return .found(route, parameters: [:])
            }
            return .methodNotAllowed(template: path, allowed: same.map(\.method))
        }
        // Substrings of the path: only the parameters' values become Strings.
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        // The most specific template that matches the path decides, whatever the registration order;
        // its methods are the path's (405 with Allow for any other).
        var best: Route?
        for route in routes where Router.matches(route.segments, parts) {
            if best.map({ Router.moreSpecific(route.segments, than: $0.segments) }) ?? true { best = route }
        }
        guard let best else { return .notFound }
        var get: Route?
        var allowed: [String] = []
        for route in routes where route.shapeID == best.shapeID {
            if route.method == method, let params = Router.bind(route.segments, parts) {
                return .found(route, parameters: params)
            }
            if route.method == "GET" { get = route }
            allowed.append(route.method)
        }
        if method == "HEAD", let get, let params = Router.bind(get.segments, parts) {
            return .found(get, parameters: params)
        }
        return .methodNotAllowed(template: best.template, allowed: allowed)
    }

    static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    /// `bind` without making the parameters' values.
    static func matches(_ segments: [Segment], _ parts: [Substring]) -> Bool {
        guard segments.count == parts.count else { return false }
        for (s, p) in zip(segments, parts) {
            if case .literal(let l) = s, l != p { return false }
        }
        return true
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
