// PeerAuthenticator: recognises signed calls from other hosts of the cluster and the caller's role they carry.
import Foundation

struct PeerAuthenticator: Sendable {
    enum Outcome: Equatable, Sendable {
        /// Not a cluster call: the ordinary token check applies (a stray X-Dmflt-Role is ignored there).
        case notPeer
        /// A host of this cluster, acting for a caller with this role.
        case peer(Role)
        case rejected(Problem)
    }

    private let secret: [UInt8]?
    private let selfName: String
    private let ledger: NonceLedger
    private let now: @Sendable () -> Int64

    init(
        clusterToken: String?, selfName: String, ledger: NonceLedger = NonceLedger(),
        now: @escaping @Sendable () -> Int64 = PeerSignature.now
    ) {
        self.secret = clusterToken.map { Array($0.utf8) }
        self.selfName = selfName
        self.ledger = ledger
        self.now = now
    }

    /// A call counts as a peer's only with a valid signature; the secret presented as a bearer token is
    /// just an unknown token. A missing role header means the caller entered unauthenticated: the least
    /// privilege applies.
    func authenticate(_ request: Request) -> Outcome {
        guard let presented = Self.signature(request.headers["Authorization"]) else { return .notPeer }
        guard let secret else {
            return .rejected(Self.refused("This host has no --peer-token-file, so it accepts no signed peer calls."))
        }
        let h = request.headers
        guard let to = h[PeerHeaders.to], let via = h[PeerHeaders.via], let nonce = h[PeerHeaders.nonce],
            nonce.utf8.count >= 16, nonce.utf8.count <= 64, let stamp = h[PeerHeaders.timestamp].flatMap({ Int64($0) })
        else {
            return .rejected(
                Self.refused(
                    "A signed peer call needs \(PeerHeaders.to), \(PeerHeaders.via), \(PeerHeaders.timestamp) and \(PeerHeaders.nonce)."
                ))
        }
        var role: Role?
        if let text = h[PeerHeaders.role] {
            guard let r = Role(rawValue: text) else {
                return .rejected(
                    Problem.invalidValue(
                        "\(PeerHeaders.role) must be 'reader' or 'operator', not '\(JSONBody.printable(text))'."))
            }
            role = r
        }
        let expected = PeerSignature(
            method: request.method, path: request.path, query: request.query,
            bodyDigest: PeerDigest.sha256(request.body), role: role, to: to, via: via, timestamp: stamp, nonce: nonce
        ).mac(secret: secret)
        guard Self.constantTimeEqual(Array(presented.utf8), Array(expected.utf8)) else {
            return .rejected(
                Self.refused("The peer signature does not match: the hosts' --peer-token-file secrets differ."))
        }
        guard to == selfName else {
            return .rejected(
                Self.refused(
                    "This signed call is addressed to host '\(JSONBody.printable(to))'; this is \(selfName). A peer's name must be its --host-name."
                ))
        }
        let clock = now()
        guard abs(clock - stamp) <= PeerSignature.windowSeconds else {
            return .rejected(
                Self.refused(
                    "This signed call is dated \(clock - stamp) s from this host's clock; hosts must agree within \(PeerSignature.windowSeconds) s."
                ))
        }
        switch ledger.record(nonce, expiry: stamp + PeerSignature.windowSeconds, now: clock) {
        case .fresh: return .peer(role ?? .reader)
        case .replayed:
            return .rejected(Self.refused("This signed call was already received once; a replay is refused."))
        case .full:
            return .rejected(
                Problem(
                    "peer-calls-exhausted", status: 503, title: "Too many peer calls",
                    detail:
                        "More than \(ledger.capacity) signed peer calls arrived within \(2 * PeerSignature.windowSeconds) s; retry later.",
                    headers: ["Retry-After": "5"]))
        }
    }

    private static func refused(_ detail: String) -> Problem { Problem.unauthorized(detail) }

    /// The MAC after "Dmflt-HMAC-SHA256 " (scheme case-insensitive, as RFC 7235 wants), or nil.
    static func signature(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == PeerSignature.scheme.lowercased() else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// Time depends on the lengths only, never on where the first difference is.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// Runs just before the token auth middleware: a valid cluster call gets `request.role` from the role
/// header; the auth middleware then skips its token lookup for a request whose role is already set
/// (and still applies its role rules). Non-peer requests reach auth with `role` cleared.
struct PeerTrust: Middleware {
    let authenticator: PeerAuthenticator

    func handle(_ request: Request, next: Handler) async throws -> Response {
        try await next(try trusted(request))
    }

    /// A signed peer call always runs as a task: checking it records its nonce (a replay is refused),
    /// so it must be checked once, and a later part of the chain may still need to suspend.
    func handleImmediately(_ request: Request, next: ImmediateHandler) throws -> Response? {
        guard PeerAuthenticator.signature(request.headers["Authorization"]) == nil else { return nil }
        // Unsigned, so not a peer's: a request that carries no role goes on as it is, without a copy.
        if request.role == nil { return try next(request) }
        return try next(try trusted(request))
    }

    /// The request as auth must see it: `role` set for a valid cluster call, cleared otherwise.
    private func trusted(_ request: Request) throws -> Request {
        var r = request
        // Only this middleware may set a role before auth runs.
        r.role = nil
        switch authenticator.authenticate(request) {
        case .notPeer: return r
        case .rejected(let problem): throw problem
        case .peer(let role):
            // Enforced here as well as in auth, so a reader's mutation can never ride on a peer call.
            if role == .reader && !["GET", "HEAD", "OPTIONS"].contains(request.method) {
                throw Problem.forbidden(
                    "The caller behind this forwarded request is a reader; \(request.method) needs an operator.")
            }
            r.role = role
            return r
        }
    }
}
