// WatchQuery: the `watch` and `interval` query arguments of the stats routes, checked strictly.
import Foundation

struct WatchQuery: Sendable, Equatable {
    var watch = false
    var interval = Duration.seconds(1)

    static let minimumSeconds = 0.1
    static let maximumSeconds = 3600.0

    /// `watch` is true or false; `interval` is seconds (0.1 to 3600) and only means something
    /// with watch=true; any other argument, or a repeated one, is refused rather than ignored.
    init(_ request: Request) throws(Problem) {
        var seen = Set<String>()
        for (name, _) in request.query {
            guard name == "watch" || name == "interval" else {
                throw Problem.invalidValue(
                    "Unknown query argument '\(Self.printable(name))'; the stats routes take watch and interval.")
            }
            guard seen.insert(name).inserted else {
                throw Problem.invalidValue("The query argument '\(name)' is given more than once.")
            }
        }
        try self.init(watch: request.queryValue("watch"), interval: request.queryValue("interval"))
    }

    /// The two arguments' texts, checked the same way wherever a route can be watched.
    init(watch text: String?, interval intervalText: String?) throws(Problem) {
        if let w = text {
            switch w {
            case "true": watch = true
            case "false": watch = false
            default: throw Problem.invalidValue("watch must be true or false, not '\(Self.printable(w))'.")
            }
        }
        if let text = intervalText {
            guard watch else { throw Problem.invalidValue("interval applies only with watch=true.") }
            guard let seconds = Double(text), seconds.isFinite, seconds >= Self.minimumSeconds,
                seconds <= Self.maximumSeconds
            else {
                throw Problem.invalidValue(
                    "interval must be a number of seconds from 0.1 to 3600, not '\(Self.printable(text))'.")
            }
            interval = .milliseconds(Int64((seconds * 1000).rounded()))
        }
    }

    init(watch: Bool, interval: Duration) {
        self.watch = watch
        self.interval = interval
    }

    /// Echoes client text safely: printable ASCII, bounded length.
    static func printable(_ text: String) -> String {
        String(
            text.unicodeScalars.prefix(64).map {
                $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?"
            })
    }
}
