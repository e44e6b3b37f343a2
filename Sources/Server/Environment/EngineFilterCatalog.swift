// EngineFilterCatalog: the daemon's FilterCatalogView over the Engine's FilterCatalog.
import Engine

struct EngineFilterCatalog: FilterCatalogView {
    let catalog: FilterCatalog

    func validate(filter: String, options: [String: JSONValue]) throws(FilterSpecRejection) -> ValidatedFilterSpec {
        var values: [String: OptionValue] = [:]
        for (name, value) in options {
            switch value {
            case .bool(let b): values[name] = .bool(b)
            case .int(let i): values[name] = .int(i)
            case .string(let s): values[name] = .string(s)
            default: throw .invalidOption("The option '\(name)' must be a boolean, integer or string.")
            }
        }
        do {
            let validated = try catalog.validate(filter: filter, options: values)
            return ValidatedFilterSpec(
                filter: filter, options: validated.values.mapValues(Self.json), kernelText: validated.kernelText)
        } catch {
            if case .unknownFilter(let name, _) = error { throw .unknownFilter(name) }
            throw .invalidOption(error.description.prefix(1).uppercased() + error.description.dropFirst() + ".")
        }
    }

    func entries(kernelTypes: [KernelFilterType]) -> [FilterTypeSummary] {
        catalog.entries(kernelTypes: kernelTypes).map { e in
            FilterTypeSummary(
                name: e.name, summary: e.summary, loaded: e.loaded, version: e.kernelVersion,
                options: e.options.map { .init(name: $0.name, type: $0.kind.rawValue, summary: $0.summary) })
        }
    }

    private static func json(_ v: OptionValue) -> JSONValue {
        switch v {
        case .bool(let b): .bool(b)
        case .int(let i): .int(i)
        case .string(let s): .string(s)
        }
    }
}
