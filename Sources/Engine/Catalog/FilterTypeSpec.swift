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
    /// How `DELETE ...?force=true` gets past a detach the kernel refuses as busy; nil: it cannot.
    public var forceDetach: ForceDetach?

    public init(
        name: String, summary: String, options: [FilterOptionSpec], attachOnce: Bool = false,
        stores: [FilterStoreSpec] = [], forceDetach: ForceDetach? = nil
    ) {
        self.name = name
        self.summary = summary
        self.options = options
        self.attachOnce = attachOnce
        self.stores = stores
        self.forceDetach = forceDetach
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

        public init(busy: String, message: String) {
            self.busy = busy
            self.message = message
        }
    }

    /// The kernel module that registers the type.
    public var kernelModule: String { "dm-flt-\(name)" }
}
