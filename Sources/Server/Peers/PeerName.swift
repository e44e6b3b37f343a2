// PeerName: the syntax of a member's name and URL, checked the same way for --peer and PUT /v1/hosts/{name}.
import Foundation

enum PeerName {
    /// A DNS-label-like name: letters, digits, '.', '_', '-', starting with a letter or digit; 'local' is reserved.
    static func validate(_ name: String) throws(MemberError) {
        let ok =
            !name.isEmpty && name.utf8.count <= 63 && name != "local"
            && name.unicodeScalars.allSatisfy { $0.isASCIIAlnum || $0 == "." || $0 == "_" || $0 == "-" }
            && name.unicodeScalars.first!.isASCIIAlnum
        guard ok else {
            throw .invalid(
                "'\(JSONBody.printable(name))' is not a host name: use 1-63 letters, digits, '.', '_' or '-', "
                    + "starting with a letter or digit ('local' is reserved).")
        }
    }

    /// An http or https base URL with a host and no query or fragment; returned without a trailing '/'.
    static func normalizedURL(_ text: String) throws(MemberError) -> String {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = c.host, !host.isEmpty, c.query == nil, c.fragment == nil, c.user == nil, c.password == nil
        else {
            throw .invalid(
                "'\(JSONBody.printable(text))' is not a peer URL: use http://HOST:PORT or https://HOST:PORT, "
                    + "without credentials, query or fragment.")
        }
        var s = text
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIIAlnum: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }
}
