// ProblemConvertible: a domain error that knows the problem+json it is shown as, so services need not throw HTTP types.
import Foundation

public protocol ProblemConvertible: Error {
    var problem: Problem { get }
}

extension Problem: ProblemConvertible {
    public var problem: Problem { self }
}
