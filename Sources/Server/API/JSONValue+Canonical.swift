// JSONValue+Canonical: the canonical text of a JSON value, as the state database stores option sets.
import Engine
import Foundation

extension JSONValue {
    /// Canonical text (sorted keys), used to store and compare option sets.
    var canonicalText: String {
        (try? JSONCoding.encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "null"
    }

    static func parse(canonical text: String) -> JSONValue? {
        try? JSONCoding.decoder.decode(JSONValue.self, from: Data(text.utf8))
    }
}
