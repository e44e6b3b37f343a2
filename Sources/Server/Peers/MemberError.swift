// MemberError: why a cluster member could not be added, re-pointed or removed, and the problem+json it is shown as.
import Foundation

enum MemberError: ProblemConvertible {
    /// A name or URL that cannot be used; the text says which rule it breaks.
    case invalid(String)
    /// The operation names this host itself, which is a member by definition.
    case isSelf(String)
    case unknown(name: String, selfName: String)
    case store(any Error)

    var problem: Problem {
        switch self {
        case .invalid(let why): return .invalidValue(why)
        case .isSelf(let why): return .conflict(why)
        case .unknown(let name, let selfName): return .unknownHost(name, selfName: selfName)
        case .store(let error): return StateDatabaseFailure.from(error, file: "peers.sqlite").problem
        }
    }

    /// What is wrong, without the HTTP framing (for command-line messages).
    var detail: String { problem.detail }
}
