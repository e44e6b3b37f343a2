// AttachmentServiceDirectory: the daemon's attachments (SQLite rows plus unmanaged kernel ones) as statistics see them.
import Engine
import Foundation

struct AttachmentServiceDirectory: AttachmentDirectory {
    let service: AttachmentService
    let hostName: String

    func attachment(id: String) async -> StatsTarget? {
        if let row = try? service.store.row(id: id) { return target(row) }
        guard id.hasPrefix(AttachmentID.unmanagedPrefix), case .attachments(let kernel) = service.kernelView() else {
            return nil
        }
        return kernel.first { AttachmentID.unmanaged($0) == id }.map(target)
    }

    func all() async -> [StatsTarget] {
        let rows = (try? service.store.rows()) ?? []
        var items = rows.map(target)
        if case .attachments(let kernel) = service.kernelView() {
            items += ReconcilePlan.unmanaged(rows: rows, kernel: kernel).map(target)
        }
        return items
    }

    private func target(_ row: AttachmentRow) -> StatsTarget {
        let now = service.devices.device(row.dev)
        return StatsTarget(
            id: row.id, host: hostName,
            device: .init(
                path: now?.path ?? row.devicePath, dev: row.dev, name: now?.name ?? row.deviceName, dmName: now?.dmName),
            filter: row.filter, phase: row.phase.rawValue, options: row.options)
    }

    private func target(_ k: KernelAttachment) -> StatsTarget {
        let now = service.devices.device(k.device)
        return StatsTarget(
            id: AttachmentID.unmanaged(k), host: hostName,
            device: .init(
                path: now?.path ?? "/dev/block/\(k.device)", dev: k.device, name: now?.name ?? "", dmName: now?.dmName),
            filter: k.filter, phase: "unmanaged", options: [:])
    }
}
