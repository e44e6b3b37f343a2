// Response: what a handler answers, a full body or a stream of chunks.
import Foundation

/// A chunked response body produced over time (watch streams). The HTTP layer pulls chunks
/// without holding a thread while none is ready; `nil` ends the stream. When the client goes
/// away or the server shuts down, the HTTP layer calls `cancel()` exactly once.
public protocol ResponseStream: Sendable {
    func next() async -> [UInt8]?
    func cancel()
}

public struct Response: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Bytes many responses share (a cached encoding): sent without a copy per response.
        case shared(SharedBody)
        case stream(any ResponseStream)
        /// A stream of exactly `length` bytes, sent with a Content-Length (a forwarded image).
        case sizedStream(any ResponseStream, length: UInt64)
        /// Bytes read from an open file or device by the HTTP layer itself (cow's image).
        case file(OpenFile, offset: UInt64, length: UInt64)
    }

    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Body = .bytes([])) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON body with the given content type.
    public static func json(
        _ value: some Encodable, status: Int = 200, contentType: String = "application/json"
    ) throws -> Response {
        let data = try JSONCoding.encoder.encode(value)
        var h = HTTPHeaders()
        h.set("Content-Type", contentType)
        return Response(status: status, headers: h, body: .bytes(Array(data)))
    }

    public var bodyBytes: [UInt8]? {
        switch body {
        case .bytes(let b): return b
        case .shared(let s): return Array(s.bytes)
        case .stream, .sizedStream, .file: return nil
        }
    }

    /// A stream the response holds, to be cancelled when it is never sent.
    var stream: (any ResponseStream)? {
        switch body {
        case .stream(let s), .sizedStream(let s, _): return s
        default: return nil
        }
    }
}

public typealias Handler = @Sendable (Request) async throws -> Response

/// A route's handler that never suspends (it reads memory, a cache, an ioctl): requests it serves
/// need no Swift task.
public typealias SyncHandler = @Sendable (Request) throws -> Response

/// A handler chain run without suspending: nil when some part of it would have to suspend (a call
/// to a peer), and the request then runs as a task through the async chain, from the start.
public typealias ImmediateHandler = (Request) throws -> Response?

/// Cross-cutting behaviour around every handler (auth, logging, error mapping).
public protocol Middleware: Sendable {
    func handle(_ request: Request, next: Handler) async throws -> Response
    /// The same behaviour without suspending. It returns nil, having recorded nothing, when `next`
    /// returns nil, or when it would itself have to suspend. The default: it would.
    func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response?
}

extension Middleware {
    public func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? { nil }
}

extension Problem {
    /// The status an error ends up as once ErrorMapping answers it: its problem's, or 500.
    static func status(of error: any Error) -> Int {
        (error as? any ProblemConvertible)?.problem.status ?? 500
    }
}

/// One shared JSON configuration: ISO 8601 dates, sorted keys for stable output.
public enum JSONCoding {
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(RFC3339.string(from: date))
        }
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }()
}

/// RFC 3339 timestamps in UTC with milliseconds.
public enum RFC3339 {
    public static func string(from date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
