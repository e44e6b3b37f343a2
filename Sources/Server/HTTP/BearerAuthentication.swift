// BearerAuthentication: middleware checking `Authorization: Bearer` against the active tokens, and the audit log.
import Foundation
import Logging

/// With no tokens the daemon is open (every caller is an operator); refusing to listen beyond
/// loopback in that case is the command line's job. Mutating requests leave an audit line with
/// role, method, path and outcome whatever happens, including refusals.
public struct BearerAuthentication: Middleware {
    let tokens: ActiveTokens?
    let openPaths: Set<String>
    let audit: Logger

    /// `tokens` may be replaced while the daemon runs (SIGHUP); the next request sees the new set.
    public init(
        tokens: ActiveTokens?, openPaths: Set<String> = ["/v1/health"], audit: Logger = Logger(label: "dmflt.audit")
    ) {
        self.tokens = tokens
        self.openPaths = openPaths
        self.audit = audit
    }

    public init(
        tokens: TokenStore?, openPaths: Set<String> = ["/v1/health"], audit: Logger = Logger(label: "dmflt.audit")
    ) {
        self.init(tokens: tokens.map(ActiveTokens.init), openPaths: openPaths, audit: audit)
    }

    static func isReadOnly(_ method: String) -> Bool { method == "GET" || method == "HEAD" || method == "OPTIONS" }

    public func handle(_ request: Request, next: Handler) async throws -> Response {
        let mutating = !Self.isReadOnly(request.method)
        var who = "anonymous"
        do {
            let response = try await next(try authorized(request, who: &who))
            if mutating { record(request, who, response.status) }
            return response
        } catch {
            if mutating { record(request, who, Problem.status(of: error)) }
            throw error
        }
    }

    public func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? {
        let mutating = !Self.isReadOnly(request.method)
        var who = "anonymous"
        do {
            guard let response = try next(try authorized(request, who: &who)) else { return nil }
            if mutating { record(request, who, response.status) }
            return response
        } catch {
            if mutating { record(request, who, Problem.status(of: error)) }
            throw error
        }
    }

    /// The request with the caller's role, or the refusal; `who` names the caller for the audit line.
    private func authorized(_ request: Request, who: inout String) throws -> Request {
        var request = request
        let mutating = !Self.isReadOnly(request.method)
        if openPaths.contains(request.path) {
            who = "open-path"
        } else if let role = request.role {
            // Set only by PeerTrust (which runs just before and clears any other): another host of
            // the cluster, acting for a caller with this role; the role rule below still applies.
            who = "peer-\(role.rawValue)"
            if mutating && role < .operator {
                throw Problem.forbidden("The reader role may only read; \(request.method) needs an operator token.")
            }
        } else if let tokens {
            guard let presented = Self.bearerToken(request.headers["Authorization"]) else {
                throw Problem.unauthorized("This request needs 'Authorization: Bearer <token>'.")
            }
            guard let role = tokens.role(forToken: presented.utf8) else {
                var p = Problem.unauthorized("The bearer token is not valid.")
                p.headers["WWW-Authenticate"] = "Bearer realm=\"dmflt\", error=\"invalid_token\""
                throw p
            }
            request.role = role
            who = role.rawValue
            if mutating && role < .operator {
                throw Problem.forbidden("The reader role may only read; \(request.method) needs an operator token.")
            }
        } else {
            request.role = .operator
            who = "open"
        }
        return request
    }

    /// The token after "Bearer " (scheme case-insensitive, RFC 7235, blanks around it ignored), or nil.
    /// Byte by byte: every request with a token (each peer call too) passes here.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let utf8 = header.utf8
        func blank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        var i = utf8.startIndex
        while i < utf8.endIndex, blank(utf8[i]) { i = utf8.index(after: i) }
        for expected in "bearer".utf8 {
            guard i < utf8.endIndex, utf8[i] | 0x20 == expected else { return nil }
            i = utf8.index(after: i)
        }
        guard i < utf8.endIndex, blank(utf8[i]) else { return nil }
        while i < utf8.endIndex, blank(utf8[i]) { i = utf8.index(after: i) }
        var end = utf8.endIndex
        while end > i, blank(utf8[utf8.index(before: end)]) { end = utf8.index(before: end) }
        return end > i ? String(header[i..<end]) : nil
    }

    private func record(_ request: Request, _ who: String, _ status: Int) {
        audit.info(
            "role=\(who) method=\(request.method) path=\(request.path) status=\(status)",
            metadata: ["remote": "\(request.remoteAddress)"])
    }
}
