// AttachmentResource: the JSON an attachment is shown as (spec + observed status), managed or unmanaged.
import Engine
import Foundation

struct AttachmentResource: Sendable, Encodable {
    struct Device: Sendable, Encodable {
        var path: String
        var dev: DeviceNumber
        var name: String
    }

    var id: String
    var host: String
    var device: Device
    var filter: String
    var options: [String: JSONValue]
    var createdAt: Date?
    var phase: String
    var error: String?
    var attachedAt: Date?
    /// Only on GET of one attached attachment whose filter counts bios.
    var counters: BioCounters?
    /// The filter type's own status (`status.filter`), only on GET of one attached attachment.
    var filterStatus: [String: JSONValue]?

    init(_ row: AttachmentRow, host: String, current: DeviceLabel?) {
        id = row.id
        self.host = host
        device = Device(path: current?.path ?? row.devicePath, dev: row.dev, name: current?.name ?? row.deviceName)
        filter = row.filter
        options = row.options
        createdAt = row.createdAt
        phase = row.phase.rawValue
        error = row.error
        attachedAt = row.attachedAt
    }

    init(unmanaged k: KernelAttachment, host: String, current: DeviceLabel?) {
        id = AttachmentID.unmanaged(k)
        self.host = host
        device = Device(path: current?.path ?? "/dev/block/\(k.device)", dev: k.device, name: current?.name ?? "")
        filter = k.filter
        options = [:]
        createdAt = nil
        phase = "unmanaged"
        attachedAt = k.attachedAt
    }

    func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey { case id, host, device, filter, options, createdAt, status }
        enum S: String, CodingKey { case phase, error, attachedAt, counters, filter }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(id, forKey: .id)
        try c.encode(host, forKey: .host)
        try c.encode(device, forKey: .device)
        try c.encode(filter, forKey: .filter)
        try c.encode(options, forKey: .options)
        try c.encode(createdAt, forKey: .createdAt)
        var s = c.nestedContainer(keyedBy: S.self, forKey: .status)
        try s.encode(phase, forKey: .phase)
        try s.encode(error, forKey: .error)
        try s.encode(attachedAt, forKey: .attachedAt)
        try s.encodeIfPresent(counters, forKey: .counters)
        try s.encodeIfPresent(filterStatus, forKey: .filter)
    }
}

struct ItemList<T: Encodable & Sendable>: Encodable, Sendable {
    var items: [T]
}
