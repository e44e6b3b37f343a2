// ListenAddress: a parsed "HOST:PORT" to bind ("127.0.0.1:7450", "[::1]:7450", "0.0.0.0:7450").
import Foundation

public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public enum Family: Sendable, Equatable { case ipv4, ipv6 }

    /// The numeric address as written, without brackets ("127.0.0.1", "::1").
    public var host: String
    public var port: UInt16
    public var family: Family

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Accepts numeric IPv4 "A.B.C.D:PORT" and bracketed IPv6 "[ADDR]:PORT"; names are refused so
    /// that what is bound is exactly what was written (no resolver surprises at boot).
    public init(parsing text: String) throws {
        func fail(_ why: String) -> ParseError {
            ParseError(
                description: "invalid listen address '\(text)': \(why) (expected e.g. 127.0.0.1:7450 or [::1]:7450)")
        }
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("missing ']'") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("missing ':PORT' after ']'") }
            portPart = rest.dropFirst()
            family = .ipv6
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("missing ':PORT'") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { throw fail("an IPv6 address needs brackets") }
            family = .ipv4
        }
        guard !portPart.isEmpty, portPart.allSatisfy(\.isASCII), portPart.allSatisfy(\.isNumber),
            let port = UInt16(portPart)
        else { throw fail("the port must be a number from 0 to 65535") }
        self.port = port
        self.host = String(hostPart)
        switch family {
        case .ipv4:
            var a = in_addr()
            guard inet_pton(AF_INET, host, &a) == 1 else { throw fail("'\(host)' is not a numeric IPv4 address") }
        case .ipv6:
            var a = in6_addr()
            guard inet_pton(AF_INET6, host, &a) == 1 else { throw fail("'\(host)' is not a numeric IPv6 address") }
        }
    }

    public init(host: String, port: UInt16) throws {
        try self.init(parsing: host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
    }

    /// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback: only this machine can connect.
    public var isLoopback: Bool {
        switch family {
        case .ipv4:
            var a = in_addr()
            _ = inet_pton(AF_INET, host, &a)
            return (UInt32(bigEndian: a.s_addr) >> 24) == 127
        case .ipv6:
            var a = in6_addr()
            _ = inet_pton(AF_INET6, host, &a)
            let b = withUnsafeBytes(of: &a) { Array($0) }
            if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return true }
            let mapped = b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff
            return mapped && b[12] == 127
        }
    }

    public var description: String { family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The address as a sockaddr_in / sockaddr_in6, for bind().
    func withSockaddr<T>(_ body: (UnsafePointer<sockaddr>) throws -> T) rethrows -> T {
        switch family {
        case .ipv4:
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &sa.sin_addr)
            return try withUnsafePointer(to: &sa) { try $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        case .ipv6:
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &sa.sin6_addr)
            return try withUnsafePointer(to: &sa) { try $0.withMemoryRebound(to: sockaddr.self, capacity: 1, body) }
        }
    }
}
