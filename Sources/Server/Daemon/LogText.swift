// LogText: makes any text safe inside one log line (control characters and backslashes escaped).
import Foundation

/// A request path, a header, a device name or a kernel message can carry a newline, a carriage
/// return, a NUL or a terminal escape. Written as they are, they split one event into several lines
/// (the second one forged) or repaint an operator's terminal. Every C0 and C1 control character,
/// DEL, and the Unicode line and paragraph separators become visible escapes; the backslash is
/// doubled so an escape in the log always means an escaped byte, never text that looked like one.
enum LogText {
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
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

    private static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        s.value < 0x20 || s.value == 0x5C || (0x7F...0x9F).contains(s.value) || s.value == 0x2028
            || s.value == 0x2029
    }
}
