// FilterTypeSpec: what the engine knows about one filter type — its summary and option schema.
import Foundation

public struct FilterTypeSpec: Sendable, Equatable, Codable {
    /// The kernel's type name ("stat"); also the `dm-flt-<name>` module's suffix.
    public var name: String
    public var summary: String
    public var options: [FilterOptionSpec]
    /// Attaching takes state that only the kernel holds (a snapshot at that instant): the daemon
    /// attaches once, when asked, and never again in its place after a reboot or a device's return.
    public var attachOnce: Bool
    /// Options naming a store (a file or block device the filter writes to) that the daemon
    /// prepares before the attach and gives the kernel as MAJOR:MINOR.
    public var stores: [FilterStoreSpec]
    /// `.device` options naming a device the filter copies the attached device onto (mirror's
    /// target): at least as large, and not the device, on its disk, or stacked on or under it. The
    /// daemon checks this before the kernel, which checks what it can again.
    public var copyTargets: [String]
    /// How `DELETE ...?force=true` gets past a detach the kernel refuses as busy; nil: it cannot.
    public var forceDetach: ForceDetach?
    /// Messages after which the attachment must never be attached again in its place (mirror's
    /// cutover): the daemon records them, and after a reboot the attachment fails with the reason.
    public var lastingMessages: [LastingMessage]

    public init(
        name: String, summary: String, options: [FilterOptionSpec], attachOnce: Bool = false,
        stores: [FilterStoreSpec] = [], copyTargets: [String] = [], forceDetach: ForceDetach? = nil,
        lastingMessages: [LastingMessage] = []
    ) {
        self.name = name
        self.summary = summary
        self.options = options
        self.attachOnce = attachOnce
        self.stores = stores
        self.copyTargets = copyTargets
        self.forceDetach = forceDetach
        self.lastingMessages = lastingMessages
    }

    enum CodingKeys: String, CodingKey {
        case name, summary, options
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try c.decode(String.self, forKey: .name), summary: try c.decode(String.self, forKey: .summary),
            options: try c.decode([FilterOptionSpec].self, forKey: .options))
    }

    public func option(named name: String) -> FilterOptionSpec? { options.first { $0.name == name } }

    /// A type whose detach the kernel refuses (EBUSY) while something depends on the attachment.
    public struct ForceDetach: Sendable, Equatable {
        /// What is busy, for the 409 answer ("its image is open").
        public var busy: String
        /// The message sent before a forced detach, after which the kernel lets it go.
        public var message: String
        /// The problem type of the 409 answer.
        public var type: String

        public init(busy: String, message: String, type: String = "busy") {
            self.busy = busy
            self.message = message
            self.type = type
        }
    }

    /// A message whose effect outlives the attachment (see `lastingMessages`).
    public struct LastingMessage: Sendable, Equatable {
        public var message: String
        /// Why the attachment cannot come back; `%@` is the RFC 3339 time the message was sent.
        public var reason: String

        public init(message: String, reason: String) {
            self.message = message
            self.reason = reason
        }

        public func reason(at time: String) -> String { reason.replacingOccurrences(of: "%@", with: time) }
    }

    /// The kernel module that registers the type.
    public var kernelModule: String { "dm-flt-\(name)" }
}
