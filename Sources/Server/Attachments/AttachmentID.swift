// AttachmentID: the rules for attachment ids (client-chosen on PUT, generated on POST, synthetic for unmanaged).
import Engine
import Foundation

enum AttachmentID {
    static let unmanagedPrefix = "unmanaged-"

    /// [a-z0-9][a-z0-9-]{0,62}, and not in the unmanaged namespace.
    static func validateClientChosen(_ id: String) throws(AttachmentError) {
        try validateSyntax(id)
        if id.hasPrefix(unmanagedPrefix) {
            throw .invalid(
                "Ids starting with '\(unmanagedPrefix)' are reserved for attachments dmflt did not make.")
        }
    }

    static func validateSyntax(_ id: String) throws(AttachmentError) {
        let bytes = Array(id.utf8)
        let ok =
            !bytes.isEmpty && bytes.count <= 63 && isLowerAlnum(bytes[0])
            && bytes.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
        if !ok {
            throw .invalid(
                "The id '\(JSONBody.printable(id))' is not 1 to 63 of a-z, 0-9 and '-', starting with a letter or digit."
            )
        }
    }

    static func generate(filter: String) -> String {
        var stem = String(filter.lowercased().unicodeScalars.prefix(40).map { isLowerAlnum($0) ? Character($0) : "-" })
        if stem.first == nil || stem.first == "-" { stem = "a" + stem }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return stem + "-" + String(repeating: "0", count: 8 - suffix.count) + suffix
    }

    /// The read-only id an attachment made outside dmflt is shown under, e.g. "unmanaged-7-0-stat".
    static func unmanaged(_ attachment: KernelAttachment) -> String {
        let filter = String(
            attachment.filter.lowercased().unicodeScalars.map { isLowerAlnum($0) ? Character($0) : "-" })
        return "\(unmanagedPrefix)\(attachment.device.major)-\(attachment.device.minor)-\(filter)"
    }

    private static func isLowerAlnum(_ s: Unicode.Scalar) -> Bool { s.isASCII && isLowerAlnum(UInt8(s.value)) }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
    }
}
