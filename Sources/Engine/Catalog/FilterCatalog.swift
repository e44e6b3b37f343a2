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
    /// The types' units (status decoding, operations), by name; a catalog made from bare specs has none.
    private let units: [String: any FilterType]

    /// Every filter type this build of dmflt knows (FilterTypes/AllFilterTypes.swift).
    public static let standard = FilterCatalog(units: AllFilterTypes.list)

    public init(types: [FilterTypeSpec]) {
        self.types = types.sorted { $0.name < $1.name }
        units = [:]
    }

    public init(units: [any FilterType]) {
        types = units.map(\.spec).sorted { $0.name < $1.name }
        self.units = Dictionary(units.map { ($0.spec.name, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func spec(named name: String) -> FilterTypeSpec? { types.first { $0.name == name } }

    public func unit(named name: String) -> (any FilterType)? { units[name] }

    /// Every type's unit, by name.
    public var allUnits: [any FilterType] { units.keys.sorted().compactMap { units[$0] } }

    /// The status of an attachment of `filter`, decoded by its type; a type this build does not
    /// know, or a status its decoder cannot read, falls back to the generic reading of the words.
    public func status(filter: String, text: String) -> FilterStatus {
        guard let unit = units[filter] else { return .generic(text: text) }
        do { return try unit.status(text: text) } catch { return .generic(text: text) }
    }

    /// `resolveDevice` turns a `.device` option's text into the device it names (as attach resolves
    /// its own device); without it, a type with a device option cannot be validated.
    public func validate(
        filter: String, options: [String: OptionValue],
        resolveDevice: (String) throws(CatalogError) -> DeviceNumber = { text throws(CatalogError) in
            throw .unresolvableDevice(option: "", text: text, reason: "no device resolver here")
        }
    ) throws(CatalogError) -> ValidatedOptions {
        guard let spec = spec(named: filter) else {
            throw .unknownFilter(name: filter, known: types.map(\.name))
        }
        for name in options.keys.sorted() where spec.option(named: name) == nil {
            throw .unknownOption(filter: filter, option: name, known: spec.options.map(\.name))
        }
        var values: [String: OptionValue] = [:]
        var words: [String] = []
        for option in spec.options {
            guard let given = options[option.name] ?? option.defaultValue else {
                if option.optional { continue }
                throw .missingRequired(filter: filter, option: option.name)
            }
            let (value, kernelValue) = try OptionCheck(option: option, filter: filter).check(
                given, resolveDevice: resolveDevice)
            values[option.name] = value
            if option.scope == .kernel { words.append("\(option.name)=\(kernelValue)") }
        }
        try units[filter]?.check(options: values)
        return ValidatedOptions(kernelText: words.joined(separator: " "), values: values)
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
