// CatalogError: why a filter name or its options were refused, precisely enough to fix the request.
import Foundation

public enum CatalogError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownFilter(name: String, known: [String])
    case unknownOption(filter: String, option: String, known: [String])
    case wrongType(filter: String, option: String, expected: FilterOptionSpec.Kind, got: FilterOptionSpec.Kind)
    case outOfRange(filter: String, option: String, value: Int64, minimum: Int64?, maximum: Int64?)
    case notAllowed(filter: String, option: String, value: String, allowed: [String])
    case missingRequired(filter: String, option: String)
    /// A string the kernel's word-based option text cannot carry.
    case unsafeText(filter: String, option: String, reason: String)
    /// A value of the right JSON type that its kind refuses (a size, path or range).
    case invalid(filter: String, option: String, reason: String)
    /// A `.device` option names no block device (or one that cannot be used).
    case unresolvableDevice(option: String, text: String, reason: String)

    public var description: String {
        switch self {
        case .unknownFilter(let name, let known):
            return "unknown filter type '\(name)'; known types: \(known.joined(separator: ", "))"
        case .unknownOption(let filter, let option, let known):
            let list = known.isEmpty ? "it takes no options" : "its options are \(known.joined(separator: ", "))"
            return "filter '\(filter)' has no option '\(option)'; \(list)"
        case .wrongType(let filter, let option, let expected, let got):
            return
                "option '\(option)' of filter '\(filter)' must be \(Self.article(expected)), not \(Self.article(got))"
        case .outOfRange(let filter, let option, let value, let minimum, let maximum):
            let bounds = [minimum.map { "at least \($0)" }, maximum.map { "at most \($0)" }].compactMap { $0 }
            return
                "option '\(option)' of filter '\(filter)' is \(value) but must be \(bounds.joined(separator: " and "))"
        case .notAllowed(let filter, let option, let value, let allowed):
            return
                "option '\(option)' of filter '\(filter)' is '\(value)' but must be one of \(allowed.joined(separator: ", "))"
        case .missingRequired(let filter, let option):
            return "filter '\(filter)' needs option '\(option)'"
        case .unsafeText(let filter, let option, let reason):
            return "option '\(option)' of filter '\(filter)' cannot be passed to the kernel: \(reason)"
        case .invalid(let filter, let option, let reason):
            return "option '\(option)' of filter '\(filter)' is invalid: \(reason)"
        case .unresolvableDevice(let option, let text, let reason):
            return "option '\(option)' names '\(text)', which is not a usable block device: \(reason)"
        }
    }

    private static func article(_ kind: FilterOptionSpec.Kind) -> String {
        switch kind {
        case .bool: "a boolean"
        case .int: "an integer"
        case .string: "a string"
        case .size: "a size"
        case .path: "a path"
        case .device: "a device"
        case .ranges: "a list of ranges"
        }
    }
}
