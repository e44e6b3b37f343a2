// FakeEnvironment: test devices, a small filter catalog and a host probe, for unit tests only.
import Engine
import Foundation

@testable import dmfltd

final class FakeDevices: DeviceDirectory, @unchecked Sendable {
    private let lock = NSLock()
    private var present: [DeviceNumber: DeviceSummary] = [:]

    static func loop(_ n: UInt32) -> DeviceSummary {
        DeviceSummary(
            name: "loop\(n)", path: "/dev/loop\(n)", dev: DeviceNumber(major: 7, minor: n), sizeBytes: 1 << 26,
            kind: "loop", readOnly: false, holders: [], loopBackingFile: "/tmp/img\(n)", dmName: nil, dmUUID: nil)
    }

    init(_ devices: [DeviceSummary]) {
        for d in devices { present[d.dev] = d }
    }

    func add(_ d: DeviceSummary) { lock.withLock { present[d.dev] = d } }
    func remove(_ dev: DeviceNumber) { lock.withLock { present[dev] = nil } }

    /// How often the whole inventory and single devices were read (a real read scans sysfs).
    private(set) var reads = (inventory: 0, single: 0)

    func devices() throws -> [DeviceSummary] {
        lock.withLock {
            reads.inventory += 1
            return present.values.sorted { $0.dev < $1.dev }
        }
    }
    func labels() -> [DeviceNumber: DeviceLabel] {
        lock.withLock {
            reads.inventory += 1
            return present.mapValues(\.label)
        }
    }
    func device(_ dev: DeviceNumber) -> DeviceSummary? {
        lock.withLock {
            reads.single += 1
            return present[dev]
        }
    }

    func lookup(_ text: String) -> DeviceLookup {
        if let dev = DeviceNumber(parsing: text) { return device(dev).map { .present($0) } ?? .absent(dev) }
        let name = text.hasPrefix("/dev/") ? String(text.dropFirst(5)) : text
        if let d = lock.withLock({ present.values.first { $0.name == name } }) { return .present(d) }
        if text == "/etc/passwd" { return .invalid("/etc/passwd is not a block device.") }
        return .invalid("No block device '\(text)'.")
    }

    /// Pairs (a, b) and how a relates to b; only `same` is known without being told.
    var relations: [DeviceNumber: [DeviceNumber: DeviceRelation]] {
        get { lock.withLock { storedRelations } }
        set { lock.withLock { storedRelations = newValue } }
    }
    private var storedRelations: [DeviceNumber: [DeviceNumber: DeviceRelation]] = [:]

    func relation(of a: DeviceNumber, to b: DeviceNumber) -> DeviceRelation? {
        a == b ? .same : relations[a]?[b]
    }
}

/// stat (no options) and guard (mode: "ro" or "rw", default "ro"; verbose: bool).
struct FakeCatalog: FilterCatalogView {
    func validate(filter: String, options: [String: JSONValue]) throws(FilterSpecRejection) -> ValidatedFilterSpec {
        switch filter {
        case "stat":
            if let name = options.keys.sorted().first { throw .invalidOption("stat has no option '\(name)'.") }
            return ValidatedFilterSpec(filter: "stat", options: [:], kernelText: "")
        case "guard":
            var mode = "ro"
            var verbose = false
            for (name, value) in options {
                switch (name, value) {
                case ("mode", .string(let m)) where m == "ro" || m == "rw": mode = m
                case ("verbose", .bool(let b)): verbose = b
                default: throw .invalidOption("guard: bad option '\(name)'.")
                }
            }
            return ValidatedFilterSpec(
                filter: "guard", options: ["mode": .string(mode), "verbose": .bool(verbose)],
                kernelText: "mode=\(mode) verbose=\(verbose ? 1 : 0)")
        default:
            throw .unknownFilter(filter)
        }
    }

    /// The real units: status decoding and operations are the types' own, even behind this fake.
    func unit(named name: String) -> (any FilterType)? { FilterCatalog.standard.unit(named: name) }

    func entries(kernelTypes: [KernelFilterType]) -> [FilterTypeSummary] {
        ["stat", "guard"].map { name in
            let k = kernelTypes.first { $0.name == name }
            return FilterTypeSummary(
                name: name, summary: name, loaded: k != nil, version: k?.versionString, options: [])
        }
    }
}

struct FakeProbe: HostProbe {
    let control: FakeFilterControl
    func probe() -> HostFacts {
        let types = try? control.listTypes()
        return HostFacts(
            kernelRelease: "6.1.0-test", dmVersion: "4.47.0", filterIoctl: types != nil, filterTypes: types ?? [],
            reason: types == nil ? "no filter IOCTL" : nil)
    }
}
