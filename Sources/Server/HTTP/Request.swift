// Request: one HTTP request as handlers see it, independent of libmicrohttpd.
import Foundation

/// Header fields with case-insensitive names, in arrival order.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        for (n, v) in fields { add(n, v) }
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    public mutating func set(_ name: String, _ value: String) {
        fields.removeAll { HTTPHeaders.sameName($0.name, name) }
        fields.append((name, value))
    }

    public subscript(_ name: String) -> String? {
        fields.first { HTTPHeaders.sameName($0.name, name) }?.value
    }

    /// Field names are ASCII tokens: an ASCII case fold is exact, and far cheaper than Foundation's
    /// locale-aware comparison on every header lookup of every request.
    static func sameName(_ a: String, _ b: String) -> Bool {
        var x = a.utf8.makeIterator()
        var y = b.utf8.makeIterator()
        while true {
            switch (x.next(), y.next()) {
            case (nil, nil): return true
            case (let p?, let q?):
                if p != q {
                    let folded = p | 0x20
                    guard folded == q | 0x20, folded >= UInt8(ascii: "a"), folded <= UInt8(ascii: "z") else {
                        return false
                    }
                }
            default: return false
            }
        }
    }

    public func makeIterator() -> some IteratorProtocol<(name: String, value: String)> { fields.makeIterator() }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.count == b.fields.count
            && zip(a.fields, b.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

/// Who made a request, once the auth middleware has looked at it.
public enum Role: String, Sendable, Comparable, Codable {
    case reader, `operator`

    public static func < (a: Role, b: Role) -> Bool { a == .reader && b == .operator }
}

public struct Request: Sendable {
    /// What arrived, in one object: every middleware that sets `route` or `role` copies the request,
    /// and a copy then takes one reference instead of one per string and array.
    private final class Arrived: Sendable {
        let method: String
        let path: String
        let query: [(name: String, value: String)]
        let headers: HTTPHeaders
        let body: [UInt8]
        let remoteAddress: String

        init(
            method: String, path: String, query: [(name: String, value: String)], headers: HTTPHeaders, body: [UInt8],
            remoteAddress: String
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
            self.remoteAddress = remoteAddress
        }

        /// A copy with one part changed (only tests and hand-made requests change what arrived).
        func with(
            method: String? = nil, path: String? = nil, query: [(name: String, value: String)]? = nil,
            headers: HTTPHeaders? = nil, body: [UInt8]? = nil, remoteAddress: String? = nil
        ) -> Arrived {
            Arrived(
                method: method ?? self.method, path: path ?? self.path, query: query ?? self.query,
                headers: headers ?? self.headers, body: body ?? self.body,
                remoteAddress: remoteAddress ?? self.remoteAddress)
        }
    }
    private var arrived: Arrived

    /// Upper-case method, e.g. "GET".
    public var method: String {
        get { arrived.method }
        set { arrived = arrived.with(method: newValue) }
    }
    /// The decoded path without the query, e.g. "/v1/hosts/local/devices".
    public var path: String {
        get { arrived.path }
        set { arrived = arrived.with(path: newValue) }
    }
    /// Query arguments in arrival order (a name may repeat).
    public var query: [(name: String, value: String)] {
        get { arrived.query }
        set { arrived = arrived.with(query: newValue) }
    }
    public var headers: HTTPHeaders {
        get { arrived.headers }
        set { arrived = arrived.with(headers: newValue) }
    }
    public var body: [UInt8] {
        get { arrived.body }
        set { arrived = arrived.with(body: newValue) }
    }
    /// "ADDR:PORT" of the client, for logs.
    public var remoteAddress: String {
        get { arrived.remoteAddress }
        set { arrived = arrived.with(remoteAddress: newValue) }
    }
    /// Filled by the router: the route template that matched ("/v1/hosts/{host}/devices") and its parameters.
    public var route: String?
    public var pathParameters: [String: String] = [:]
    /// Filled by the auth middleware.
    public var role: Role?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [], headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [], remoteAddress: String = "-"
    ) {
        arrived = Arrived(
            method: method, path: path, query: query, headers: headers, body: body, remoteAddress: remoteAddress)
    }

    /// The last value of a query argument.
    public func queryValue(_ name: String) -> String? { query.last { $0.name == name }?.value }
}
