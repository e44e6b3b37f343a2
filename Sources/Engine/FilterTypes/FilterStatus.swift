// FilterStatus: what one attachment's status says, decoded by its filter type: JSON fields, IO counters, metrics.
import Foundation

public struct FilterStatus: Sendable, Equatable {
    /// `status.filter` of the attachment: camelCase keys, typed values.
    public var fields: [String: JSONValue]
    /// Bios and bytes per operation, for a type that counts the IO it sees (stat): they feed the
    /// stats streams and `dmflt_bios_total`.
    public var counters: BioCounters?
    /// What the type exports to `/metrics`, each named `dmflt_<type>_<name>`.
    public var metrics: [FilterMetric]

    public init(fields: [String: JSONValue], counters: BioCounters? = nil, metrics: [FilterMetric] = []) {
        self.fields = fields
        self.counters = counters
        self.metrics = metrics
    }

    /// A status the engine has no decoder for (a type loaded in the kernel that this build does
    /// not know): its name=value words with camelCase keys, numbers as numbers; anything that is
    /// not entirely such words is kept whole as `text`, so nothing is lost or half-read.
    public static func generic(text: String) -> FilterStatus {
        guard let words = try? StatusWords(text, filter: "") else {
            return FilterStatus(fields: ["text": .string(text)])
        }
        var fields: [String: JSONValue] = [:]
        for (key, value) in words.all {
            let number = Int64(value).flatMap { String($0) == value ? $0 : nil }
            fields[StatusWords.camelCase(key)] = number.map(JSONValue.int) ?? .string(value)
        }
        return FilterStatus(fields: fields)
    }
}

/// One sample a filter type exports. Counters are the kernel's cumulative readings; the exporter
/// turns them into Prometheus counters that only grow (a reading below the last one is a reset).
public struct FilterMetric: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case counter, gauge
    }

    /// Without the `dmflt_<type>_` prefix, e.g. `denied_bios_total`.
    public var name: String
    public var help: String
    public var kind: Kind
    /// Besides `attachment`, which every series carries.
    public var labels: [Label]
    public var value: Double

    public struct Label: Sendable, Equatable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(name: String, help: String, kind: Kind, labels: [Label] = [], value: Double) {
        self.name = name
        self.help = help
        self.kind = kind
        self.labels = labels
        self.value = value
    }
}
