// HostResources: the JSON of /v1/health, /v1/host, /v1/hosts and a host's devices.
import Engine
import Foundation

struct HealthResource: Encodable, Equatable, Sendable {
    var status = "ok"
}

struct HostResource: Encodable, Equatable, Sendable {
    struct FilterType: Encodable, Equatable, Sendable {
        var name: String
        var version: String
        var attachments: Int
    }
    var name: String
    var version: String
    var kernelRelease: String
    var dmVersion: String?
    var filterIoctl: Bool
    var filterTypes: [FilterType]
    var reason: String?

    init(name: String, version: String, facts: HostFacts) {
        self.name = name
        self.version = version
        kernelRelease = facts.kernelRelease
        dmVersion = facts.dmVersion
        filterIoctl = facts.filterIoctl
        filterTypes = facts.filterTypes.map {
            FilterType(name: $0.name, version: $0.versionString, attachments: $0.attachments)
        }
        reason = facts.reason
    }

    func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey { case name, version, kernelRelease, dmVersion, filterIoctl, filterTypes, reason }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(name, forKey: .name)
        try c.encode(version, forKey: .version)
        try c.encode(kernelRelease, forKey: .kernelRelease)
        try c.encode(dmVersion, forKey: .dmVersion)
        try c.encode(filterIoctl, forKey: .filterIoctl)
        try c.encode(filterTypes, forKey: .filterTypes)
        try c.encode(reason, forKey: .reason)
    }
}

struct MemberResource: Encodable, Sendable {
    var name: String
    var url: String?
    var isSelf: Bool
    var status: String
    var lastSeen: Date?
    var version: String?
    var filterIoctl: Bool?

    func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey {
            case name, url
            case isSelf = "self"
            case status, lastSeen, version, filterIoctl
        }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(name, forKey: .name)
        try c.encode(url, forKey: .url)
        try c.encode(isSelf, forKey: .isSelf)
        try c.encode(status, forKey: .status)
        try c.encode(lastSeen, forKey: .lastSeen)
        try c.encode(version, forKey: .version)
        try c.encode(filterIoctl, forKey: .filterIoctl)
    }
}

struct DeviceResource: Encodable, Sendable {
    var device: DeviceSummary
    /// Ids of the attachments on this device, managed and unmanaged.
    var attachments: [String]

    func encode(to encoder: any Encoder) throws {
        enum K: String, CodingKey {
            case name, path, dev, size, kind, readOnly, holders, loopBackingFile, dmName, dmUUID, attachments
        }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(device.name, forKey: .name)
        try c.encode(device.path, forKey: .path)
        try c.encode(device.dev, forKey: .dev)
        try c.encode(device.sizeBytes, forKey: .size)
        try c.encode(device.kind, forKey: .kind)
        try c.encode(device.readOnly, forKey: .readOnly)
        try c.encode(device.holders, forKey: .holders)
        try c.encode(device.loopBackingFile, forKey: .loopBackingFile)
        try c.encode(device.dmName, forKey: .dmName)
        try c.encode(device.dmUUID, forKey: .dmUUID)
        try c.encode(attachments, forKey: .attachments)
    }
}

struct MessageReplyResource: Encodable, Sendable {
    var reply: String
}
