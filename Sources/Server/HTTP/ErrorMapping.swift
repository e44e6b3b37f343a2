// ErrorMapping: middleware that turns thrown errors into problem+json answers (a domain error as its problem, anything else 500).
import Foundation
import Logging

public struct ErrorMapping: Middleware {
    let logger: Logger

    public init(logger: Logger = Logger(label: "dmflt.http")) {
        self.logger = logger
    }

    public func handle(_ request: Request, next: Handler) async throws -> Response {
        do {
            return try await next(request)
        } catch {
            return answer(error, to: request)
        }
    }

    public func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? {
        do {
            return try next(request)
        } catch {
            return answer(error, to: request)
        }
    }

    private func answer(_ error: any Error, to request: Request) -> Response {
        if let error = error as? any ProblemConvertible { return error.problem.response() }
        // A body the handler could not decode is the client's mistake, never a 500.
        if let error = error as? DecodingError { return Problem.malformedJSON(Self.describe(error)).response() }
        // The detail stays generic: internals (paths, errnos of our own) are for the log only.
        logger.error(
            "\(request.method) \(request.route ?? "-") failed: \(String(reflecting: error))",
            metadata: ["remote": "\(request.remoteAddress)"])
        return Problem.internalError("An internal error occurred; it has been logged.").response()
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "the body" : "'\(p)'"
        }
        switch error {
        case .typeMismatch(_, let c): return "\(path(c)) has the wrong type."
        case .valueNotFound(_, let c): return "\(path(c)) must not be null."
        case .keyNotFound(let key, let c):
            let p = path(c)
            return "The field '\(key.stringValue)' is missing\(p == "the body" ? "" : " in \(p)")."
        case .dataCorrupted(let c): return "\(path(c)) is not valid JSON."
        @unknown default: return "The body is not valid JSON for this request."
        }
    }
}
