// FilterOptionSpec: the schema of one filter option — its type, default, limits, and whether the kernel sees it.
import Foundation

public struct FilterOptionSpec: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, Equatable {
        case bool, int, string
        /// Bytes: an integer, or a string with a K, M, G or T suffix (powers of 1024).
        case size
        /// An absolute file path.
        case path
        /// A block device named as in attach; the kernel gets its MAJOR:MINOR.
        case device
        /// Byte ranges: "OFFSET+LENGTH[,OFFSET+LENGTH...]".
        case ranges
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
    /// `.size` values and `.ranges` offsets and lengths must be multiples of this.
    public var alignment: Int64?
    /// A `.size` that must be a power of two.
    public var powerOfTwo: Bool
    /// May be left out although it has no default (the kernel then uses its own, e.g. the whole device).
    public var optional: Bool

    public init(
        name: String, kind: Kind, summary: String, defaultValue: OptionValue?, scope: Scope,
        minimum: Int64? = nil, maximum: Int64? = nil, allowedValues: [String]? = nil, alignment: Int64? = nil,
        powerOfTwo: Bool = false, optional: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.summary = summary
        self.defaultValue = defaultValue
        self.scope = scope
        self.minimum = minimum
        self.maximum = maximum
        self.allowedValues = allowedValues
        self.alignment = alignment
        self.powerOfTwo = powerOfTwo
        self.optional = optional
    }

    public var required: Bool { defaultValue == nil && !optional }

    enum CodingKeys: String, CodingKey {
        case name, kind, summary, scope, minimum, maximum, allowedValues, alignment, powerOfTwo, optional
        case defaultValue = "default"
    }
}
