// Problem: an RFC 9457 problem+json error with a stable type a client script can branch on.
import Foundation

public struct Problem: Error, Sendable, Equatable {
    /// The stable part of the type URI, e.g. "malformed-json".
    public var slug: String
    public var title: String
    public var status: Int
    public var detail: String
    /// Extra members (e.g. "host", "errno"), rendered as strings.
    public var extensions: [String: String]
    /// Extra response headers (e.g. Allow, WWW-Authenticate).
    public var headers: [String: String]

    public static let typeBase = "urn:dmflt:problem:"

    public init(
        _ slug: String, status: Int, title: String, detail: String, extensions: [String: String] = [:],
        headers: [String: String] = [:]
    ) {
        self.slug = slug
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions
        self.headers = headers
    }

    public var type: String { Problem.typeBase + slug }

    public func response(instance: String? = nil) -> Response {
        var object: [String: String] = extensions
        object["type"] = type
        object["title"] = title
        object["detail"] = detail
        if let instance { object["instance"] = instance }
        // status is a number in RFC 9457; splice it in after encoding the string members.
        var json = (try? JSONCoding.encoder.encode(object)).map { Array($0) } ?? Array("{}".utf8)
        json.removeLast()  // "}"
        json += Array((object.isEmpty ? "" : ",").utf8) + Array("\"status\":\(status)}".utf8)
        var h = HTTPHeaders()
        h.set("Content-Type", "application/problem+json")
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { h.set(k, v) }
        return Response(status: status, headers: h, body: .bytes(json))
    }
}

extension Problem {
    public static func malformedJSON(_ detail: String) -> Problem {
        Problem("malformed-json", status: 400, title: "Malformed JSON", detail: detail)
    }
    public static func unknownField(_ name: String) -> Problem {
        Problem(
            "unknown-field", status: 400, title: "Unknown field",
            detail: "The field '\(name)' is not part of this request.")
    }
    public static func invalidValue(_ detail: String) -> Problem {
        Problem("invalid-value", status: 400, title: "Invalid value", detail: detail)
    }
    public static func notFound(_ detail: String) -> Problem {
        Problem("not-found", status: 404, title: "Not found", detail: detail)
    }
    public static func conflict(_ detail: String) -> Problem {
        Problem("conflict", status: 409, title: "Conflict", detail: detail)
    }
    public static func unauthorized(_ detail: String) -> Problem {
        Problem(
            "unauthorized", status: 401, title: "Unauthorized", detail: detail,
            headers: ["WWW-Authenticate": "Bearer realm=\"dmflt\""])
    }
    public static func forbidden(_ detail: String) -> Problem {
        Problem("forbidden", status: 403, title: "Forbidden", detail: detail)
    }
    public static func methodNotAllowed(_ method: String, allowed: [String]) -> Problem {
        Problem(
            "method-not-allowed", status: 405, title: "Method not allowed",
            detail: "\(method) is not allowed here; allowed: \(allowed.joined(separator: ", ")).",
            headers: ["Allow": allowed.joined(separator: ", ")])
    }
    public static func payloadTooLarge(limit: Int) -> Problem {
        Problem(
            "payload-too-large", status: 413, title: "Payload too large",
            detail: "The request body exceeds \(limit) bytes.")
    }
    public static func unsupportedMediaType(_ got: String?) -> Problem {
        Problem(
            "unsupported-media-type", status: 415, title: "Unsupported media type",
            detail: "Send the body as application/json\(got.map { "; got \($0)" } ?? "").")
    }
    public static func kernelRefused(_ detail: String, errno: Int32) -> Problem {
        Problem(
            "kernel-refused", status: 422, title: "The kernel refused the request", detail: detail,
            extensions: ["errno": String(errno)])
    }
    public static func filterIoctlUnavailable(_ detail: String) -> Problem {
        Problem("filter-ioctl-unavailable", status: 501, title: "No filter IOCTL on this host", detail: detail)
    }
    public static func internalError(_ detail: String) -> Problem {
        Problem("internal", status: 500, title: "Internal error", detail: detail)
    }
}
