// StatsTarget: what the statistics side needs to know about an attachment, and where it asks for them.
import Engine
import Foundation

/// One attachment as statistics see it: enough to sample it and to label what is sampled.
struct StatsTarget: Sendable, Equatable {
    struct Device: Sendable, Equatable, Encodable {
        var path: String
        var dev: DeviceNumber
        var name: String
        /// The device-mapper name when the device is a dm device (dm-stats regions need one).
        var dmName: String?
    }

    var id: String
    var host: String
    var device: Device
    var filter: String
    /// The attachment's phase ("attached", "waiting-device", ..., or "unmanaged").
    var phase: String
    var options: [String: JSONValue]

    /// Only attached filters (ours or someone else's) have counters in the kernel.
    var isSampleable: Bool { phase == "attached" || phase == "unmanaged" }

    /// dm-stats latency is opt-in per attachment and exists only on dm devices.
    var wantsLatency: Bool { options["latency"] == .bool(true) && device.dmName != nil }
}

/// Where statistics look attachments up; the daemon's attachment store conforms to it.
protocol AttachmentDirectory: Sendable {
    func attachment(id: String) async -> StatsTarget?
    /// Every attachment of this host, managed and unmanaged.
    func all() async -> [StatsTarget]
}
