// EngineErrorProblems: the Engine's domain errors (kernel calls, option validation, filter type operations) as problems.
import Engine

extension FilterControlError: ProblemConvertible {
    public var problem: Problem { .from(self) }
}

extension FilterOperationError: ProblemConvertible {
    public var problem: Problem { .from(self) }
}

extension CatalogError: ProblemConvertible {
    public var problem: Problem {
        if case .unknownFilter(let name, _) = self { return .unknownFilter(name) }
        return .invalidValue(description.prefix(1).uppercased() + description.dropFirst() + ".")
    }
}
