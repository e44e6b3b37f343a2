// DeviceNumber: a block device's major:minor, and its dev_t encoding on the dm filter ABI.
import Foundation

public struct DeviceNumber: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var major: UInt32
    public var minor: UInt32

    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// Decodes the kernel's huge_encode_dev() form, which equals glibc's makedev().
    public init(encoded dev: UInt64) {
        major = UInt32(truncatingIfNeeded: ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff)))
        minor = UInt32(truncatingIfNeeded: (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff)))
    }

    /// The kernel's huge_encode_dev() form, which equals glibc's makedev().
    public var encoded: UInt64 {
        let ma = UInt64(major)
        let mi = UInt64(minor)
        return ((ma & 0xfff) << 8) | ((ma & ~UInt64(0xfff)) << 32) | (mi & 0xff) | ((mi & ~UInt64(0xff)) << 12)
    }

    /// Parses "MAJOR:MINOR" with decimal numbers and nothing else.
    public init?(parsing text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 10 && $0.allSatisfy { $0 >= "0" && $0 <= "9" } }),
            let ma = UInt32(parts[0]), let mi = UInt32(parts[1])
        else { return nil }
        self.init(major: ma, minor: mi)
    }

    public var description: String { "\(major):\(minor)" }

    public static func < (a: DeviceNumber, b: DeviceNumber) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = DeviceNumber(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not MAJOR:MINOR"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
