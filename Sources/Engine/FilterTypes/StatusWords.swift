// StatusWords: a filter's one-line status ("mode=deny read_bios=3") read as name=value words, strictly.
import Foundation

public struct StatusWords: Sendable {
    /// In the kernel's order.
    public let all: [(String, String)]
    private let byName: [String: String]
    private let filter: String

    /// Every word must be `name=value` with a non-empty name of letters, digits, '_' or '-', each
    /// name once.
    public init(_ text: String, filter: String) throws(FilterStatusError) {
        var all: [(String, String)] = []
        var byName: [String: String] = [:]
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            guard let eq = word.firstIndex(of: "="), eq != word.startIndex else {
                throw FilterStatusError(filter: filter, reason: "'\(word)' is not a name=value word")
            }
            let key = String(word[..<eq])
            guard key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw FilterStatusError(filter: filter, reason: "'\(key)' is not a status word's name")
            }
            guard byName[key] == nil else { throw FilterStatusError(filter: filter, reason: "'\(key)' appears twice") }
            let value = String(word[word.index(after: eq)...])
            byName[key] = value
            all.append((key, value))
        }
        self.all = all
        self.byName = byName
        self.filter = filter
    }

    public func string(_ name: String) throws(FilterStatusError) -> String {
        guard let value = byName[name] else { throw FilterStatusError(filter: filter, reason: "no '\(name)' word") }
        return value
    }

    public func uint64(_ name: String) throws(FilterStatusError) -> UInt64 {
        let text = try string(name)
        guard let value = UInt64(text) else {
            throw FilterStatusError(filter: filter, reason: "'\(name)=\(text)' is not a count")
        }
        return value
    }

    /// A CLOCK_REALTIME instant in nanoseconds, or nil for `none` (it has not happened).
    public func instant(_ name: String) throws(FilterStatusError) -> UInt64? {
        let text = try string(name)
        if text == "none" { return nil }
        guard let n = UInt64(text) else {
            throw FilterStatusError(filter: filter, reason: "'\(name)=\(text)' is neither a time nor none")
        }
        return n
    }

    /// "write_zeroes_bios" -> "writeZeroesBios": the API's keys are camelCase, the kernel's are not.
    public static func camelCase(_ word: String) -> String {
        var out = ""
        var upper = false
        for ch in word {
            if ch == "_" || ch == "-" {
                upper = !out.isEmpty
                continue
            }
            out.append(upper ? Character(ch.uppercased()) : ch)
            upper = false
        }
        return out
    }
}
