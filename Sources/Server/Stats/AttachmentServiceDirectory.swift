// AttachmentServiceDirectory: the daemon's attachments (SQLite rows plus unmanaged kernel ones) as statistics see them.
import Engine
import Foundation

struct AttachmentServiceDirectory: AttachmentDirectory {
    let service: AttachmentService
    let hostName: String

    func attachment(id: String) async -> StatsTarget? {
        if let row = try? service.store.row(id: id) { return target(row, now: service.devices.device(row.dev)) }
        guard id.hasPrefix(AttachmentID.unmanagedPrefix), case .attachments(let kernel) = service.kernelView() else {
            return nil
        }
        return kernel.first { AttachmentID.unmanaged($0) == id }.map {
            target($0, now: service.devices.device($0.device))
        }
    }

    func all() async -> [StatsTarget] {
        let rows = (try? service.store.rows()) ?? []
        // One inventory read for all: a lookup per row scans sysfs whenever its device is absent.
        let devices = (try? service.devices.devices()) ?? []
        let byDev = Dictionary(devices.map { ($0.dev, $0) }, uniquingKeysWith: { first, _ in first })
        var items = rows.map { target($0, now: byDev[$0.dev]) }
        if case .attachments(let kernel) = service.kernelView() {
            items += ReconcilePlan.unmanaged(rows: rows, kernel: kernel).map { target($0, now: byDev[$0.device]) }
        }
        return items
    }

    private func target(_ row: AttachmentRow, now: DeviceSummary?) -> StatsTarget {
        return StatsTarget(
            id: row.id, host: hostName,
            device: .init(
                path: now?.path ?? row.devicePath, dev: row.dev, name: now?.name ?? row.deviceName, dmName: now?.dmName),
            filter: row.filter, phase: row.phase.rawValue, options: row.options)
    }

    private func target(_ k: KernelAttachment, now: DeviceSummary?) -> StatsTarget {
        return StatsTarget(
            id: AttachmentID.unmanaged(k), host: hostName,
            device: .init(
                path: now?.path ?? "/dev/block/\(k.device)", dev: k.device, name: now?.name ?? "", dmName: now?.dmName),
            filter: k.filter, phase: "unmanaged", options: [:])
    }
}
