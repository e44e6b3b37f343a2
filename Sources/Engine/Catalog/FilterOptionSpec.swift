// FilterOptionSpec: the schema of one filter option — its type, default, limits, and whether the kernel sees it.
import Foundation

public struct FilterOptionSpec: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, Equatable {
        case bool, int, string
    }

    /// Where an option takes effect.
    public enum Scope: String, Sendable, Codable, Equatable {
        /// Passed to the kernel in the attach text (`name=value`).
        case kernel
        /// Used by dmfltd only (e.g. how often to sample); never sent to the kernel.
        case daemon
    }

    public var name: String
    public var kind: Kind
    public var summary: String
    /// nil: the option is required.
    public var defaultValue: OptionValue?
    public var scope: Scope
    /// Inclusive bounds for `.int` options.
    public var minimum: Int64?
    public var maximum: Int64?
    /// The only values a `.string` option accepts, when limited.
    public var allowedValues: [String]?

    public init(
        name: String, kind: Kind, summary: String, defaultValue: OptionValue?, scope: Scope,
        minimum: Int64? = nil, maximum: Int64? = nil, allowedValues: [String]? = nil
    ) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.defaultValue = defaultValue
        self.scope = scope
        self.minimum = minimum
        self.maximum = maximum
        self.allowedValues = allowedValues
    }

    public var required: Bool { defaultValue == nil }

    enum CodingKeys: String, CodingKey {
        case name, kind, summary, scope, minimum, maximum, allowedValues
        case defaultValue = "default"
    }
}
