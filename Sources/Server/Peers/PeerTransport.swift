// PeerTransport: how one host calls another (a request out, a head back, a body collected or streamed).
import Foundation

struct PeerCall: Sendable {
    var method: String
    /// Absolute URL: the peer's base URL plus path and query.
    var url: String
    var headers: HTTPHeaders
    var body: [UInt8]
    /// A collected answer longer than this is refused rather than held (streamed answers are bounded
    /// by PeerBodyStream instead).
    var maxAnswerBytes: Int = PeerCall.defaultMaxAnswerBytes

    static let defaultMaxAnswerBytes = 16 << 20
}

struct PeerAnswer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    /// `.bytes` when collected; `.stream` when the peer streams and the caller asked to pass streams on.
    var body: Response.Body
}

enum PeerCallFailure: Error, Equatable {
    /// Refused, reset, DNS, TLS verification: the peer cannot be talked to.
    case unreachable(String)
    /// The peer did not answer within the budget (a cut link looks like this).
    case timedOut
    /// The answer was longer than the call's `maxAnswerBytes`.
    case tooLarge(limit: Int)

    /// 502 peer-unreachable or 504 peer-timeout, naming the host.
    func problem(host: String, timeoutSeconds: Double) -> Problem {
        switch self {
        case .timedOut: return Problem.peerTimeout(host, seconds: timeoutSeconds)
        case .unreachable(let reason): return Problem.peerUnreachable(host, reason: reason)
        case .tooLarge(let limit):
            return Problem(
                "peer-answer-too-large", status: 502, title: "Peer answer too large",
                detail: "The host '\(host)' answered more than \(limit) bytes, more than one request may hold.",
                extensions: ["host": host])
        }
    }
}

protocol PeerTransport: Sendable {
    /// Sends `call`; `timeoutSeconds` bounds the wait for the answer's head and, when the body is collected,
    /// for the whole body. With `streamUnsized`, an answer without Content-Length (NDJSON, SSE) comes back
    /// as a stream that delivers chunks as the peer sends them, with no time limit.
    func send(_ call: PeerCall, timeoutSeconds: Double, streamUnsized: Bool) async throws(PeerCallFailure) -> PeerAnswer
}
