// FilterCatalogView: option validation and the catalog listing, as the API needs them (the Engine's FilterCatalog in the daemon).
import Engine

/// A filter spec the catalog accepted: the canonical option values and the text the kernel gets.
struct ValidatedFilterSpec: Sendable, Equatable {
    var filter: String
    /// Every option the filter has after validation (defaults filled in), as JSON.
    var options: [String: JSONValue]
    var kernelText: String
}

enum FilterSpecRejection: Error, Sendable, Equatable {
    /// The catalog knows no filter of this name.
    case unknownFilter(String)
    /// An option is unknown, of the wrong type or out of range: a sentence saying which and why.
    case invalidOption(String)
}

/// One filter type of `GET /v1/filters`.
struct FilterTypeSummary: Sendable, Equatable, Encodable {
    struct Option: Sendable, Equatable, Encodable {
        var name: String
        var type: String
        var summary: String
    }
    var name: String
    var summary: String
    var loaded: Bool
    var version: String?
    var options: [Option]

    func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey { case name, summary, loaded, version, options }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(name, forKey: .name)
        try c.encode(summary, forKey: .summary)
        try c.encode(loaded, forKey: .loaded)
        try c.encode(version, forKey: .version)
        try c.encode(options, forKey: .options)
    }
}

protocol FilterCatalogView: Sendable {
    /// Options arrive as JSON scalars (bool, integer or string); anything else is refused before this.
    func validate(filter: String, options: [String: JSONValue]) throws(FilterSpecRejection) -> ValidatedFilterSpec
    func entries(kernelTypes: [KernelFilterType]) -> [FilterTypeSummary]
    /// The type's unit (status decoding, operations); nil for a type this build does not know.
    func unit(named name: String) -> (any FilterType)?
}

extension FilterCatalogView {
    /// An attachment's status as its type reads it, or the generic reading of its words.
    func filterStatus(filter: String, text: String) -> FilterStatus {
        guard let unit = unit(named: filter) else { return .generic(text: text) }
        do { return try unit.status(text: text) } catch { return .generic(text: text) }
    }
}
