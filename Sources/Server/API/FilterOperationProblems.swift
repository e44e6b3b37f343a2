// FilterOperationProblems: how a filter type's refusal of an operation becomes problem+json.
import Engine

extension Problem {
    /// The type's own problem type and status; a kernel refusal maps as every kernel call does.
    static func from(_ error: FilterOperationError) -> Problem {
        if let kernel = error.kernel { return .from(kernel) }
        return Problem(error.type, status: error.status, title: error.title, detail: error.detail)
    }

    static func noSuchOperation(filter: String, name: String, available: [String]) -> Problem {
        let list = available.isEmpty ? "it has none" : "it has \(available.joined(separator: ", "))"
        return Problem(
            "no-such-operation", status: 404, title: "No such operation",
            detail: "The \(filter) filter has no operation '\(JSONBody.printable(name))'; \(list).")
    }
}
