// FilterTypeSpec: what the engine knows about one filter type — its summary and option schema.
import Foundation

public struct FilterTypeSpec: Sendable, Equatable, Codable {
    /// The kernel's type name ("stat"); also the `dm-flt-<name>` module's suffix.
    public var name: String
    public var summary: String
    public var options: [FilterOptionSpec]

    public init(name: String, summary: String, options: [FilterOptionSpec]) {
        self.name = name
        self.summary = summary
        self.options = options
    }

    public func option(named name: String) -> FilterOptionSpec? { options.first { $0.name == name } }

    /// The kernel module that registers the type.
    public var kernelModule: String { "dm-flt-\(name)" }
}
