// PeerAuthenticator: recognises calls from other hosts (cluster token) and the caller's role they carry.
import Foundation

struct PeerAuthenticator: Sendable {
    enum Outcome: Equatable, Sendable {
        /// Not a cluster call: the ordinary token check applies (a stray X-Dmflt-Role is ignored there).
        case notPeer
        /// A host of this cluster, acting for a caller with this role.
        case peer(Role)
        case rejected(Problem)
    }

    private let clusterToken: [UInt8]?

    init(clusterToken: String?) {
        self.clusterToken = clusterToken.map { Array($0.utf8) }
    }

    /// A missing role header means the caller entered unauthenticated: the least privilege applies.
    func authenticate(_ request: Request) -> Outcome {
        guard let clusterToken, let presented = BearerAuthentication.bearerToken(request.headers["Authorization"]),
            Self.constantTimeEqual(Array(presented.utf8), clusterToken)
        else { return .notPeer }
        guard let text = request.headers[PeerHeaders.role] else { return .peer(.reader) }
        guard let role = Role(rawValue: text) else {
            return .rejected(
                Problem.invalidValue(
                    "\(PeerHeaders.role) must be 'reader' or 'operator', not '\(JSONBody.printable(text))'."))
        }
        return .peer(role)
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
        var r = request
        // Only this middleware may set a role before auth runs.
        r.role = nil
        switch authenticator.authenticate(request) {
        case .notPeer: return try await next(r)
        case .rejected(let problem): throw problem
        case .peer(let role):
            // Enforced here as well as in auth, so a reader's mutation can never ride on the cluster token.
            if role == .reader && !["GET", "HEAD", "OPTIONS"].contains(request.method) {
                throw Problem.forbidden(
                    "The caller behind this forwarded request is a reader; \(request.method) needs an operator.")
            }
            r.role = role
            return try await next(r)
        }
    }
}
