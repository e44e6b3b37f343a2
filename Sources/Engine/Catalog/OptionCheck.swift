// OptionCheck: one option value checked against its kind and limits, normalized, and written as kernel text.
import Foundation

struct OptionCheck {
    let option: FilterOptionSpec
    let filter: String

    /// The value as stored (normalized: sizes in bytes, ranges in canonical form) and as the kernel gets it.
    func check(_ value: OptionValue, resolveDevice: (String) throws(CatalogError) -> DeviceNumber)
        throws(CatalogError) -> (OptionValue, String)
    {
        switch (option.kind, value) {
        case (.bool, .bool):
            return (value, value.description)
        case (.int, .int(let number)):
            try bounds(number)
            return (value, value.description)
        case (.string, .string(let text)):
            if let allowed = option.allowedValues, !allowed.contains(text) {
                throw .notAllowed(filter: filter, option: option.name, value: text, allowed: allowed)
            }
            try kernelSafe(text)
            return (value, text)
        case (.size, .int(let bytes)):
            try size(bytes)
            return (.int(bytes), String(bytes))
        case (.size, .string(let text)):
            guard let bytes = Self.parseSize(text) else {
                throw .invalid(
                    filter: filter, option: option.name,
                    reason: "'\(text)' is not a size (bytes, or a number with a K, M, G or T suffix)")
            }
            try size(bytes)
            return (.int(bytes), String(bytes))
        case (.path, .string(let path)):
            guard path.hasPrefix("/") else {
                throw .invalid(filter: filter, option: option.name, reason: "'\(path)' is not an absolute path")
            }
            if path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
                throw .invalid(filter: filter, option: option.name, reason: "'\(path)' has '.' or '..' components")
            }
            try kernelSafe(path)
            return (value, path)
        case (.device, .string(let text)):
            do {
                return (value, try resolveDevice(text).description)
            } catch {
                if case .unresolvableDevice(_, _, let reason) = error {
                    throw .unresolvableDevice(option: option.name, text: text, reason: reason)
                }
                throw error
            }
        case (.ranges, .string(let text)):
            let ranges = try parseRanges(text)
            let canonical = ranges.map { "\($0.offset)+\($0.length)" }.joined(separator: ",")
            return (.string(canonical), canonical)
        default:
            throw .wrongType(filter: filter, option: option.name, expected: option.kind, got: value.kind)
        }
    }

    private func bounds(_ number: Int64) throws(CatalogError) {
        if let minimum = option.minimum, number < minimum {
            throw .outOfRange(
                filter: filter, option: option.name, value: number, minimum: minimum, maximum: option.maximum)
        }
        if let maximum = option.maximum, number > maximum {
            throw .outOfRange(
                filter: filter, option: option.name, value: number, minimum: option.minimum, maximum: maximum)
        }
    }

    private func size(_ bytes: Int64) throws(CatalogError) {
        guard bytes >= 0 else {
            throw .invalid(filter: filter, option: option.name, reason: "a size cannot be negative")
        }
        try bounds(bytes)
        if let alignment = option.alignment, bytes % alignment != 0 {
            throw .invalid(filter: filter, option: option.name, reason: "\(bytes) is not a multiple of \(alignment)")
        }
        if option.powerOfTwo, bytes & (bytes - 1) != 0 || bytes == 0 {
            throw .invalid(filter: filter, option: option.name, reason: "\(bytes) is not a power of two")
        }
    }

    /// "64K" -> 65536; suffixes are powers of 1024, as block sizes are.
    static func parseSize(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var digits = Substring(text)
        var factor: Int64 = 1
        if let last = digits.last, let unit = units[Character(last.uppercased())] {
            factor = unit
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
            let number = Int64(digits)
        else { return nil }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: factor)
        return overflow ? nil : bytes
    }

    /// Sorted by offset; overlapping or touching ranges are merged, as the kernel merges them.
    func parseRanges(_ text: String) throws(CatalogError) -> [(offset: Int64, length: Int64)] {
        guard !text.isEmpty else {
            throw .invalid(
                filter: filter, option: option.name, reason: "it is empty; leave it out for the whole device")
        }
        var ranges: [(offset: Int64, length: Int64)] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "+", omittingEmptySubsequences: false)
            guard pieces.count == 2, let offset = Self.parseSize(String(pieces[0])),
                let length = Self.parseSize(String(pieces[1]))
            else {
                throw .invalid(
                    filter: filter, option: option.name,
                    reason: "'\(part)' is not OFFSET+LENGTH (bytes, e.g. 0+1048576 or 1M+4K)")
            }
            guard length > 0 else {
                throw .invalid(filter: filter, option: option.name, reason: "the range '\(part)' is empty")
            }
            guard offset.addingReportingOverflow(length).overflow == false else {
                throw .invalid(filter: filter, option: option.name, reason: "the range '\(part)' ends past 2^63")
            }
            if let alignment = option.alignment, offset % alignment != 0 || length % alignment != 0 {
                throw .invalid(
                    filter: filter, option: option.name,
                    reason: "the range '\(part)' is not aligned: offset and length must be multiples of \(alignment)")
            }
            ranges.append((offset, length))
        }
        ranges.sort { $0.offset < $1.offset }
        var merged: [(offset: Int64, length: Int64)] = []
        for r in ranges {
            if let last = merged.last, r.offset <= last.offset + last.length {
                merged[merged.count - 1].length = max(last.offset + last.length, r.offset + r.length) - last.offset
            } else {
                merged.append(r)
            }
        }
        return merged
    }

    /// Kernel option text is split into words at whitespace, and the kernel's splitter gives '\'
    /// (and the byte 0xA0, which isspace() counts in the kernel's Latin-1 table) a meaning.
    private func kernelSafe(_ text: String) throws(CatalogError) {
        guard option.scope == .kernel else { return }
        if text.isEmpty { throw .unsafeText(filter: filter, option: option.name, reason: "it is empty") }
        if text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7e || $0 == "\\" || $0 == "=" }) {
            throw .unsafeText(
                filter: filter, option: option.name,
                reason: "only printable ASCII without spaces, '\\' or '=' can be passed to the kernel")
        }
        if text.utf8.count > 1024 {
            throw .unsafeText(filter: filter, option: option.name, reason: "it is longer than 1024 bytes")
        }
    }
}
