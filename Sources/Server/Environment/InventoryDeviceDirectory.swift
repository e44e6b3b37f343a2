// InventoryDeviceDirectory: the daemon's DeviceDirectory, read from sysfs and /dev by the Engine's DeviceInventory.
import Engine

struct InventoryDeviceDirectory: DeviceDirectory {
    let inventory: DeviceInventory

    func devices() throws -> [DeviceSummary] { try inventory.list().map(Self.summary) }

    func device(_ dev: DeviceNumber) -> DeviceSummary? { inventory.device(dev).map(Self.summary) }

    func labels() -> [DeviceNumber: DeviceLabel] {
        inventory.names().mapValues { DeviceLabel(name: $0, path: DeviceInventory.path(ofKernelName: $0)) }
    }

    /// Only MAJOR:MINOR may name a device that is not there yet: a name or path that resolves to
    /// nothing is far more often a typo than a device to wait for.
    func lookup(_ text: String) -> DeviceLookup {
        if let dev = DeviceNumber(parsing: text) { return device(dev).map { .present($0) } ?? .absent(dev) }
        do {
            return .present(Self.summary(try inventory.resolve(text)))
        } catch {
            return .invalid(error.description.prefix(1).uppercased() + error.description.dropFirst() + ".")
        }
    }

    func relation(of a: DeviceNumber, to b: DeviceNumber) -> DeviceRelation? { inventory.relation(of: a, to: b) }

    static func summary(_ d: BlockDevice) -> DeviceSummary {
        DeviceSummary(
            name: d.name, path: d.path, dev: d.dev, sizeBytes: d.sizeBytes, kind: d.kind.rawValue, readOnly: d.readOnly,
            holders: d.holders, loopBackingFile: d.loopBackingFile, dmName: d.dmName, dmUUID: d.dmUUID,
            wwid: d.wwid, serial: d.serial)
    }
}
