// OptionValue: one filter option's value as a client sends it in JSON — a bool, an integer or a string.
import Foundation

public enum OptionValue: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    case bool(Bool)
    case int(Int64)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Bool first: JSON true/false must not become 1/0.
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "an option value is a boolean, an integer or a string")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }

    /// The value as it appears in kernel option text.
    public var description: String {
        switch self {
        case .bool(let value): value ? "true" : "false"
        case .int(let value): String(value)
        case .string(let value): value
        }
    }

    /// The kind of value this is, for error messages.
    public var kind: FilterOptionSpec.Kind {
        switch self {
        case .bool: .bool
        case .int: .int
        case .string: .string
        }
    }
}
