// RequestLogging: middleware writing one log line per request (method, route template, status, duration).
import Foundation
import Logging

/// Logs the route template rather than the raw path (bounded, no identifiers), and never headers or
/// bodies, so a token cannot reach the log.
public struct RequestLogging: Middleware {
    let logger: Logger
    let level: Logger.Level

    public init(logger: Logger = Logger(label: "dmflt.http"), level: Logger.Level = .info) {
        self.logger = logger
        self.level = level
    }

    public func handle(_ request: Request, next: Handler) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request)
            log(request, response.status, since: start)
            return response
        } catch let error as any ProblemConvertible {
            log(request, error.problem.status, since: start)
            throw error
        } catch {
            log(request, 500, since: start)
            throw error
        }
    }

    private func log(_ request: Request, _ status: Int, since start: ContinuousClock.Instant) {
        guard logger.logLevel <= level else { return }
        let elapsed = ContinuousClock.now - start
        // Hundredths of a millisecond, formatted by hand: String(format:) costs more than the request.
        let centi = elapsed.components.seconds * 100_000 + elapsed.components.attoseconds / 10_000_000_000_000
        let fraction = centi % 100
        var line = request.method
        line += " "
        line += request.route ?? "(no route)"
        line += " \(status) \(centi / 100)."
        if fraction < 10 { line += "0" }
        line += "\(fraction) ms"
        logger.log(level: level, "\(line)", metadata: ["remote": .string(request.remoteAddress)], source: "dmfltd")
    }
}
