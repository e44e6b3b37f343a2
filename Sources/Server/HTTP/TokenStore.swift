// TokenStore: the bearer tokens of --token-file and their roles, checked in constant time.
import Foundation

public struct TokenStore: Sendable {
    public static let minimumTokenLength = 16

    public struct LoadError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    private struct Entry: Sendable {
        var role: Role
        var token: [UInt8]
    }
    private let entries: [Entry]
    /// Every comparison walks this many bytes, whatever was presented.
    private let width: Int

    public var count: Int { entries.count }

    /// Reads the token file. Refuses a file that others (not owner or group) may read or write: the
    /// tokens are passwords, and like sshd's StrictModes it is better to stop at boot than to run
    /// with secrets anyone on the host can copy. Errors name the line, never the token.
    public init(contentsOf path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw LoadError(description: "token file '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LoadError(description: "token file '\(path)' is not a regular file")
        }
        if info.st_mode & 0o007 != 0 {
            throw LoadError(
                description: String(
                    format: "token file '%@' is accessible by other users (mode %03o); run: chmod o-rwx '%@'", path,
                    info.st_mode & 0o777, path))
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw LoadError(description: "token file '\(path)' cannot be read as UTF-8 text")
        }
        try self.init(parsing: text, source: "token file '\(path)'")
    }

    /// Lines are `ROLE TOKEN` (role reader or operator); blank lines and lines starting with '#' are skipped.
    public init(parsing text: String, source: String = "token file") throws {
        var entries: [Entry] = []
        var seen = Set<[UInt8]>()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ why: String) -> LoadError { LoadError(description: "\(source) line \(index + 1): \(why)") }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw fail("expected 'ROLE TOKEN' (two fields), found \(fields.count) field(s)")
            }
            guard let role = Role(rawValue: String(fields[0])) else {
                throw fail("unknown role '\(fields[0].prefix(20))' (expected reader or operator)")
            }
            let token = Array(fields[1].utf8)
            guard token.allSatisfy(Self.isTokenByte) else {
                throw fail("the token has characters outside A-Z a-z 0-9 - . _ ~ + / =")
            }
            guard token.count >= Self.minimumTokenLength else {
                throw fail(
                    "the token is \(token.count) characters; at least \(Self.minimumTokenLength) are required (e.g. openssl rand -hex 24)"
                )
            }
            guard seen.insert(token).inserted else { throw fail("the same token appears on an earlier line") }
            entries.append(Entry(role: role, token: token))
        }
        guard !entries.isEmpty else { throw LoadError(description: "\(source) has no tokens") }
        self.entries = entries
        self.width = entries.map(\.token.count).max() ?? 0
    }

    /// RFC 6750 b64token characters.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default: return "-._~+/=".utf8.contains(b)
        }
    }

    /// The role of a presented token, or nil. Compares against every token over a fixed width with
    /// no early exit, so the time taken says nothing about how much of any token was right.
    public func role(forToken presented: some Collection<UInt8>) -> Role? {
        let p = Array(presented)
        var matchedRole: UInt8 = 0  // 0 none, 1 reader, 2 operator
        for entry in entries {
            var diff = UInt(truncatingIfNeeded: entry.token.count ^ p.count)
            for i in 0..<width {
                let a = i < entry.token.count ? entry.token[i] : 0
                let b = i < p.count ? p[i] : 0
                diff |= UInt(a ^ b)
            }
            // mask is all ones when diff == 0, without a branch on the secret.
            let mask = UInt8(truncatingIfNeeded: (diff | (0 &- diff)) >> (UInt.bitWidth - 1)) &- 1
            matchedRole |= mask & (entry.role == .operator ? 2 : 1)
        }
        switch matchedRole {
        case 1: return .reader
        case 2: return .operator
        default: return nil
        }
    }
}
