// LogText: makes any text safe inside one log line (control characters and backslashes escaped).
import Foundation

/// A request path, a header, a device name or a kernel message can carry a newline, a carriage
/// return, a NUL or a terminal escape. Written as they are, they split one event into several lines
/// (the second one forged) or repaint an operator's terminal. Every C0 and C1 control character,
/// DEL, and the Unicode line and paragraph separators become visible escapes; the backslash is
/// doubled so an escape in the log always means an escaped byte, never text that looked like one.
enum LogText {
    static func escaped(_ text: String) -> String {
        guard needsEscape(text) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case _ where needsEscape(scalar):
                let hex = String(scalar.value, radix: 16)
                out += scalar.value <= 0xFF ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{" + hex + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `text` escaped, appended as UTF-8 to a log line being built.
    static func append(_ text: String, to line: inout [UInt8]) {
        if needsEscape(text) {
            line.append(contentsOf: escaped(text).utf8)
        } else {
            line.append(contentsOf: text.utf8)
        }
    }

    /// Whether any scalar needs an escape. Nearly every logged text is printable ASCII, which is told
    /// by its bytes alone: a scalar that needs an escape is a byte below 0x20, a backslash, DEL, or
    /// starts with a byte of 0x80 or more (C1 controls and U+2028/9 are not ASCII).
    static func needsEscape(_ text: String) -> Bool {
        let ascii: Bool? = text.utf8.withContiguousStorageIfAvailable { bytes in
            for b in bytes where b < 0x20 || b >= 0x7F || b == 0x5C {
                return b >= 0x80 ? nil : true
            }
            return false
        }.flatMap { $0 }
        if let ascii { return ascii }
        return text.unicodeScalars.contains(where: needsEscape)
    }

    private static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || s.value == 0x5C || (0x7F...0x9F).contains(s.value) || s.value == 0x2028
            || s.value == 0x2029
    }
}
