// KernelTime: the kernel's CLOCK_REALTIME nanoseconds as the RFC 3339 times filter statuses show.
import Foundation

enum KernelTime {
    static func rfc3339(nanoseconds: UInt64) -> String {
        var style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        style.timeZone = TimeZone(identifier: "UTC")!
        return Date(timeIntervalSince1970: Double(nanoseconds) / 1e9).formatted(style)
    }
}
