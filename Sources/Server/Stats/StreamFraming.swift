// StreamFraming: how one stream event is written as NDJSON or as Server-Sent Events.
import Foundation

enum StreamFormat: Sendable, Equatable {
    case ndjson
    case sse

    var contentType: String { self == .sse ? "text/event-stream" : "application/x-ndjson" }

    /// SSE when the client asks for it, NDJSON otherwise.
    init(accept: String?) {
        let wantsSSE = (accept ?? "").split(separator: ",").contains {
            $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "text/event-stream"
        }
        self = wantsSSE ? .sse : .ndjson
    }
}

struct StreamFraming: Sendable {
    let format: StreamFormat
    /// How long an SSE client should wait before reconnecting.
    static let retryMilliseconds = 3000

    /// Sent once, as the first line of the first event's block: SSE's reconnection hint (in a
    /// block of its own, without data, some clients would never report it).
    var prelude: [UInt8] { format == .sse ? Array("retry: \(Self.retryMilliseconds)\n".utf8) : [] }

    /// One tick. `json` is an object; when ticks were lost, `"dropped": N` goes in as its first member.
    func event(sequence: UInt64, json: [UInt8], dropped: Int, name: String = "stats") -> [UInt8] {
        var object = json
        if dropped > 0, object.first == UInt8(ascii: "{") {
            let member = Array("\"dropped\":\(dropped)".utf8) + (object.count > 2 ? [UInt8(ascii: ",")] : [])
            object.insert(contentsOf: member, at: 1)
        }
        switch format {
        case .ndjson:
            return object + [UInt8(ascii: "\n")]
        case .sse:
            return Array("id: \(sequence)\nevent: \(name)\ndata: ".utf8) + object + Array("\n\n".utf8)
        }
    }

    /// Keeps an idle connection writing so a client that went away is noticed: an SSE comment,
    /// or an empty line, which NDJSON readers skip.
    var heartbeat: [UInt8] { format == .sse ? Array(": heartbeat\n\n".utf8) : Array("\n".utf8) }

    /// The last event of a stream that ends on the server's side.
    func end(reason: String, sequence: UInt64) -> [UInt8] {
        let json = "{\"end\":true,\"reason\":\"\(reason)\"}"
        switch format {
        case .ndjson: return Array((json + "\n").utf8)
        case .sse: return Array("id: \(sequence)\nevent: end\ndata: \(json)\n\n".utf8)
        }
    }
}
