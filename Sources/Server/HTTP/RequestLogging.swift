// RequestLogging: middleware writing one log line per request (method, route template, status, duration).
import Foundation
import Logging

/// Which requests leave an access line (`dmfltd serve --access-log`). Mutations also leave an
/// audit line (BearerAuthentication) whatever this says.
public enum AccessLogMode: String, Sendable, CaseIterable {
    case all
    /// Only requests that may change something: no line for every scrape or poll.
    case mutations
    case none

    func logs(method: String) -> Bool {
        switch self {
        case .all: true
        case .mutations: !BearerAuthentication.isReadOnly(method)
        case .none: false
        }
    }
}

/// Logs the route template rather than the raw path (bounded, no identifiers), and never headers or
/// bodies, so a token cannot reach the log.
public struct RequestLogging: Middleware {
    let logger: Logger
    let level: Logger.Level
    let mode: AccessLogMode

    public init(logger: Logger = Logger(label: "dmflt.http"), level: Logger.Level = .info, mode: AccessLogMode = .all) {
        self.logger = logger
        self.level = level
        self.mode = mode
    }

    public func handle(_ request: Request, next: Handler) async throws -> Response {
        guard mode.logs(method: request.method) else { return try await next(request) }
        let start = ContinuousClock.now
        do {
            let response = try await next(request)
            log(request, response.status, since: start)
            return response
        } catch {
            log(request, Problem.status(of: error), since: start)
            throw error
        }
    }

    public func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? {
        guard mode.logs(method: request.method) else { return try next(request) }
        let start = ContinuousClock.now
        do {
            guard let response = try next(request) else { return nil }
            log(request, response.status, since: start)
            return response
        } catch {
            log(request, Problem.status(of: error), since: start)
            throw error
        }
    }

    private func log(_ request: Request, _ status: Int, since start: ContinuousClock.Instant) {
        guard logger.logLevel <= level else { return }
        let elapsed = ContinuousClock.now - start
        // Hundredths of a millisecond, formatted by hand: String(format:) costs more than the request.
        let centi = elapsed.components.seconds * 100_000 + elapsed.components.attoseconds / 10_000_000_000_000
        // Bytes in one buffer: each piece appended to a String cost a few hundred instructions.
        var line: [UInt8] = []
        line.reserveCapacity(80)
        line.append(contentsOf: request.method.utf8)
        line.append(0x20)
        line.append(contentsOf: (request.route ?? "(no route)").utf8)
        line.append(0x20)
        Self.appendDecimal(status, to: &line)
        line.append(0x20)
        Self.appendDecimal(Int(centi / 100), to: &line)
        line.append(UInt8(ascii: "."))
        let fraction = Int(centi % 100)
        if fraction < 10 { line.append(UInt8(ascii: "0")) }
        Self.appendDecimal(fraction, to: &line)
        line.append(contentsOf: " ms".utf8)
        logger.log(
            level: level, Logger.Message(stringLiteral: String(decoding: line, as: UTF8.self)),
            metadata: ["remote": .string(request.remoteAddress)], source: "dmfltd")
    }

    static func appendDecimal(_ value: Int, to line: inout [UInt8]) {
        if value < 0 {
            line.append(UInt8(ascii: "-"))
            appendDecimal(-value, to: &line)
            return
        }
        if value >= 10 { appendDecimal(value / 10, to: &line) }
        line.append(UInt8(ascii: "0") + UInt8(value % 10))
    }
}
