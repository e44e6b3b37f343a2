// FilterType: one filter type as the engine knows it: its options, how its status reads, and the operations it adds.
import Foundation

/// A filter type is one unit: a kernel module `dm-flt-<name>.ko` and one conforming value here,
/// listed in `AllFilterTypes`. The catalog, the routes, `/metrics` and the OpenAPI check find it
/// through this protocol; nothing else names a type.
public protocol FilterType: Sendable {
    /// The type's name, summary and option schema.
    var spec: FilterTypeSpec { get }
    /// The kernel's status text of one attachment, as the API shows it (`status.filter`), with
    /// the IO counters and metrics the type derives from it.
    func status(text: String) throws(FilterStatusError) -> FilterStatus
    /// The type's own REST operations, under `/v1/hosts/{host}/attachments/{id}/<name>`.
    var operations: [FilterTypeOperation] { get }
    /// Checks between options that each passed alone (cow: a diff storage limit of at least one chunk).
    func check(options: [String: OptionValue]) throws(CatalogError)
    /// What a detach answer tells about what the filter leaves behind (mirror: an incomplete
    /// target), from the status read just before the detach; nil: nothing to tell.
    func detachReport(statusText: String) -> [String: JSONValue]?
}

extension FilterType {
    public var operations: [FilterTypeOperation] { [] }
    public func check(options: [String: OptionValue]) throws(CatalogError) {}
    public func detachReport(statusText: String) -> [String: JSONValue]? { nil }
    public var name: String { spec.name }

    public func operation(named name: String, method: String) -> FilterTypeOperation? {
        operations.first { $0.name == name && ($0.method == method || (method == "HEAD" && $0.method == "GET")) }
    }
}

/// The kernel's status text broke the type's format (a word missing or not a number).
public struct FilterStatusError: Error, Sendable, Equatable, CustomStringConvertible {
    public var filter: String
    public var reason: String

    public init(filter: String, reason: String) {
        self.filter = filter
        self.reason = reason
    }

    public var description: String { "the \(filter) filter's status cannot be read: \(reason)" }
}
