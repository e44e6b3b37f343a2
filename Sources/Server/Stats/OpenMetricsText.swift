// OpenMetricsText: turns swift-prometheus' text exposition into OpenMetrics 1.0 (counter family names, # EOF).
import Foundation

/// swift-prometheus renders only the classic text format. OpenMetrics differs in two places that
/// matter here: a counter's family (TYPE/HELP) is named without its `_total` suffix, which stays on
/// the samples, and the exposition ends with `# EOF`. Everything else is taken over unchanged.
enum OpenMetricsText {
    static let contentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    static func from(prometheusText text: [UInt8]) -> [UInt8] {
        let lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        var counters = Set<Substring>()
        for line in lines where line.starts(with: Array("# TYPE ".utf8)) {
            let words = String(decoding: line, as: UTF8.self).split(separator: " ")
            if words.count == 4, words[3] == "counter" { counters.insert(words[2]) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 64)
        for line in lines {
            if line.first == UInt8(ascii: "#") {
                let s = String(decoding: line, as: UTF8.self)
                let words = s.split(separator: " ", maxSplits: 3)
                if words.count >= 3, words[1] == "TYPE" || words[1] == "HELP", counters.contains(words[2]),
                    words[2].hasSuffix("_total")
                {
                    let family = words[2].dropLast("_total".count)
                    out += Array("# \(words[1]) \(family)".utf8)
                    if words.count == 4 { out += Array(" \(words[3])".utf8) }
                    out.append(UInt8(ascii: "\n"))
                    continue
                }
            }
            out += line
            out.append(UInt8(ascii: "\n"))
        }
        out += Array("# EOF\n".utf8)
        return out
    }
}
