// EngineFilterCatalog: the daemon's FilterCatalogView over the Engine's FilterCatalog.
import Engine

struct EngineFilterCatalog: FilterCatalogView {
    let catalog: FilterCatalog
    /// Resolves options of the `device` kind, as attach resolves its own device.
    var devices: (any DeviceDirectory)?

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
            let validated = try catalog.validate(filter: filter, options: values) { text throws(CatalogError) in
                switch devices?.lookup(text) {
                case .present(let d): return d.dev
                case .absent(let dev):
                    throw .unresolvableDevice(option: "", text: text, reason: "no block device has \(dev) now")
                case .invalid(let why): throw .unresolvableDevice(option: "", text: text, reason: why)
                case nil: throw .unresolvableDevice(option: "", text: text, reason: "devices cannot be looked up here")
                }
            }
            return ValidatedFilterSpec(
                filter: filter, options: validated.values.mapValues(Self.json), kernelText: validated.kernelText)
        } catch {
            if case .unknownFilter(let name, _) = error { throw .unknownFilter(name) }
            throw .invalidOption(error.problem.detail)
        }
    }

    func entries(kernelTypes: [KernelFilterType]) -> [FilterTypeSummary] {
        catalog.entries(kernelTypes: kernelTypes).map { e in
            FilterTypeSummary(
                name: e.name, summary: e.summary, loaded: e.loaded, version: e.kernelVersion,
                options: e.options.map { .init(name: $0.name, type: $0.kind.rawValue, summary: $0.summary) })
        }
    }

    func unit(named name: String) -> (any FilterType)? { catalog.unit(named: name) }

    private static func json(_ v: OptionValue) -> JSONValue {
        switch v {
        case .bool(let b): .bool(b)
        case .int(let i): .int(i)
        case .string(let s): .string(s)
        }
    }
}
