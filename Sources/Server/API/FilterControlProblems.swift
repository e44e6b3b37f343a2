// FilterControlProblems: how a kernel failure becomes an HTTP problem, one place for every route.
import Engine

extension Problem {
    /// The problem for a failed kernel call the client caused or can act on; server faults are 500s.
    static func from(_ error: FilterControlError) -> Problem {
        let errno = ["errno": String(error.errno)]
        switch error.kind {
        case .ioctlUnavailable, .foreignReply:
            return .filterIoctlUnavailable(error.description)
        case .invalid, .noSuchFilterType, .noSuchDevice:
            return .kernelRefused(error.description, errno: error.errno)
        case .alreadyAttached:
            return Problem(
                "already-attached", status: 409, title: "Already attached", detail: error.description, extensions: errno
            )
        case .notAttached:
            return Problem(
                "not-attached", status: 409, title: "Not attached", detail: error.description, extensions: errno)
        case .busy:
            return Problem("busy", status: 409, title: "Device busy", detail: error.description, extensions: errno)
        case .permissionDenied, .system:
            return Problem(
                "kernel-error", status: 500, title: "The kernel call failed", detail: error.description,
                extensions: errno)
        }
    }

    static func unmanaged(_ id: String) -> Problem {
        Problem(
            "unmanaged", status: 409, title: "Attachment not managed by dmflt",
            detail: "\(id) was attached outside dmflt; dmflt shows it but never changes it.")
    }

    static func unknownFilter(_ name: String) -> Problem {
        Problem(
            "unknown-filter", status: 400, title: "Unknown filter",
            detail: "There is no filter type '\(JSONBody.printable(name))'; GET /v1/filters lists them.")
    }

    /// Never the error's own text: GRDB's carries the SQL statement (see StateDatabaseFailure).
    static func store(_ error: any Error) -> Problem {
        (error as? StateDatabaseFailure ?? StateDatabaseFailure.from(error, file: "state.sqlite")).problem
    }
}
