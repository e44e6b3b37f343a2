// FilterStatusText: a filter's one-line status as JSON — its key=value words as fields, anything else as text.
import Foundation

enum FilterStatusText {
    /// "read_bios=3 mode=ro" becomes {"read_bios": 3, "mode": "ro"} (numbers where a word is one);
    /// a status that is not entirely key=value words is kept whole as {"text": ...}, so nothing
    /// the filter said is lost or half-parsed. Keys stay the kernel's own words.
    static func fields(_ text: String) -> [String: JSONValue] {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        if words.isEmpty { return [:] }
        var fields: [String: JSONValue] = [:]
        for word in words {
            guard let eq = word.firstIndex(of: "="), eq != word.startIndex else { return ["text": .string(text)] }
            let key = String(word[..<eq])
            let value = String(word[word.index(after: eq)...])
            guard fields[key] == nil, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                return ["text": .string(text)]
            }
            fields[key] = Self.value(value)
        }
        return fields
    }

    private static func value(_ word: String) -> JSONValue {
        if let n = Int64(word), String(n) == word { return .int(n) }
        return .string(word)
    }
}
