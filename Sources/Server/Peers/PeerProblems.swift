// PeerProblems: the problem+json answers of the peers layer (unknown host, unreachable, timeout, loop).
import Foundation

extension Problem {
    static func unknownHost(_ name: String, selfName: String) -> Problem {
        Problem(
            "not-found", status: 404, title: "Not found",
            detail: "No host '\(name)' in this cluster; this is \(selfName). GET /v1/hosts lists the members.",
            extensions: ["host": name])
    }

    static func peerUnreachable(_ name: String, reason: String) -> Problem {
        Problem(
            "peer-unreachable", status: 502, title: "Peer unreachable",
            detail: "The host '\(name)' could not be reached: \(reason)", extensions: ["host": name])
    }

    static func peerTimeout(_ name: String, seconds: Double) -> Problem {
        Problem(
            "peer-timeout", status: 504, title: "Peer timeout",
            detail: "The host '\(name)' did not answer within \(PeerTimeouts.format(seconds)).",
            extensions: ["host": name])
    }

    /// A request that already crossed one host may not be sent on again: at most one hop.
    static func peerLoop(_ name: String) -> Problem {
        Problem(
            "peer-loop", status: 508, title: "Forwarding loop",
            detail:
                "This request was already forwarded once and names the host '\(name)'; requests cross at most one hop.",
            extensions: ["host": name])
    }
}

enum PeerTimeouts {
    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.3g s", seconds)
    }
}
