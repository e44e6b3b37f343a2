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
    /// Upper-case method, e.g. "GET".
    public var method: String
    /// The decoded path without the query, e.g. "/v1/hosts/local/devices".
    public var path: String
    /// Query arguments in arrival order (a name may repeat).
    public var query: [(name: String, value: String)]
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// "ADDR:PORT" of the client, for logs.
    public var remoteAddress: String
    /// Filled by the router: the route template that matched ("/v1/hosts/{host}/devices") and its parameters.
    public var route: String?
    public var pathParameters: [String: String] = [:]
    /// Filled by the auth middleware.
    public var role: Role?

    public init(
        method: String, path: String, query: [(name: String, value: String)] = [], headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [], remoteAddress: String = "-"
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
    }

    /// The last value of a query argument.
    public func queryValue(_ name: String) -> String? { query.last { $0.name == name }?.value }
}
