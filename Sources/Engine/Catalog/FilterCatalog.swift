// FilterCatalog: the filter types the engine knows, option validation, and the merge with what the kernel has loaded.
import Foundation

/// Options that passed validation: the normalized values (defaults filled in) and the text the
/// attach IOCTL carries.
public struct ValidatedOptions: Sendable, Equatable {
    /// `name=value` words of the kernel-scope options in schema order; "" when there are none.
    public var kernelText: String
    /// Every option with its value, defaults included.
    public var values: [String: OptionValue]

    public init(kernelText: String, values: [String: OptionValue]) {
        self.kernelText = kernelText
        self.values = values
    }
}

/// One row of the merged catalog: a type the engine knows, the kernel has loaded, or both.
public struct CatalogEntry: Sendable, Equatable, Codable {
    public var name: String
    public var summary: String
    public var options: [FilterOptionSpec]
    /// The engine has a schema for the type (it can validate options for it).
    public var known: Bool
    /// The kernel has the type registered now.
    public var loaded: Bool
    /// The kernel's version of the type, when loaded.
    public var kernelVersion: String?
    /// How many attachments use the type now, when loaded.
    public var attachments: Int?
}

public struct FilterCatalog: Sendable {
    public let types: [FilterTypeSpec]

    /// Every filter type this build of dmflt knows (see FilterTypes/BuiltInFilterTypes.swift).
    public static let standard = FilterCatalog(types: FilterTypeSpec.builtIn)

    public init(types: [FilterTypeSpec]) {
        self.types = types.sorted { $0.name < $1.name }
    }

    public func spec(named name: String) -> FilterTypeSpec? { types.first { $0.name == name } }

    public func validate(filter: String, options: [String: OptionValue]) throws(CatalogError) -> ValidatedOptions {
        guard let spec = spec(named: filter) else {
            throw .unknownFilter(name: filter, known: types.map(\.name))
        }
        for name in options.keys.sorted() where spec.option(named: name) == nil {
            throw .unknownOption(filter: filter, option: name, known: spec.options.map(\.name))
        }
        var values: [String: OptionValue] = [:]
        var words: [String] = []
        for option in spec.options {
            guard let value = options[option.name] ?? option.defaultValue else {
                throw .missingRequired(filter: filter, option: option.name)
            }
            try Self.check(value, against: option, filter: filter)
            values[option.name] = value
            if option.scope == .kernel { words.append("\(option.name)=\(value)") }
        }
        return ValidatedOptions(kernelText: words.joined(separator: " "), values: values)
    }

    private static func check(_ value: OptionValue, against option: FilterOptionSpec, filter: String)
        throws(CatalogError)
    {
        guard value.kind == option.kind else {
            throw .wrongType(filter: filter, option: option.name, expected: option.kind, got: value.kind)
        }
        switch value {
        case .int(let number):
            if let minimum = option.minimum, number < minimum {
                throw .outOfRange(
                    filter: filter, option: option.name, value: number, minimum: minimum, maximum: option.maximum)
            }
            if let maximum = option.maximum, number > maximum {
                throw .outOfRange(
                    filter: filter, option: option.name, value: number, minimum: option.minimum, maximum: maximum)
            }
        case .string(let text):
            if let allowed = option.allowedValues, !allowed.contains(text) {
                throw .notAllowed(filter: filter, option: option.name, value: text, allowed: allowed)
            }
            // Kernel option text is whitespace-separated name=value words.
            if option.scope == .kernel {
                if text.isEmpty { throw .unsafeText(filter: filter, option: option.name, reason: "it is empty") }
                if text.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0 == "=" }) {
                    throw .unsafeText(
                        filter: filter, option: option.name,
                        reason: "it contains whitespace, a control character or '='")
                }
                if text.utf8.count > 1024 {
                    throw .unsafeText(filter: filter, option: option.name, reason: "it is longer than 1024 bytes")
                }
            }
        case .bool:
            break
        }
    }

    /// The catalog merged with what the kernel reports: every known type (loaded or not) and every
    /// loaded type (known or not), by name.
    public func entries(kernelTypes: [KernelFilterType]) -> [CatalogEntry] {
        var entries: [CatalogEntry] = types.map { spec in
            let loaded = kernelTypes.first { $0.name == spec.name }
            return CatalogEntry(
                name: spec.name, summary: spec.summary, options: spec.options, known: true, loaded: loaded != nil,
                kernelVersion: loaded?.versionString, attachments: loaded?.attachments)
        }
        for type in kernelTypes where spec(named: type.name) == nil {
            entries.append(
                CatalogEntry(
                    name: type.name, summary: "loaded in the kernel; this dmflt build has no schema for it",
                    options: [], known: false, loaded: true, kernelVersion: type.versionString,
                    attachments: type.attachments))
        }
        return entries.sorted { $0.name < $1.name }
    }
}
