// FilterTypeOperation: a REST operation a filter type adds to its attachments (guard's events, cbt's marks, ...).
import Foundation

/// Served as `METHOD /v1/hosts/{host}/attachments/{id}/<name>` for attachments of the type that
/// are in the kernel; peers forward it like every host route.
public struct FilterTypeOperation: Sendable {
    /// Path segment: lowercase letters and '-'.
    public var name: String
    /// "GET" or "POST".
    public var method: String
    public var summary: String
    /// The query parameters it takes (besides `watch` and `interval` where it can be watched);
    /// any other is refused before the handler runs.
    public var parameters: [String]
    /// Set for a GET that lists items: `?watch=true` then streams new items as they come.
    public var watch: WatchCursor?
    public var handler: @Sendable (FilterOperationCall) throws(FilterOperationError) -> FilterOperationResult

    public init(
        name: String, method: String, summary: String, parameters: [String] = [], watch: WatchCursor? = nil,
        handler: @escaping @Sendable (FilterOperationCall) throws(FilterOperationError) -> FilterOperationResult
    ) {
        self.name = name
        self.method = method
        self.summary = summary
        self.parameters = parameters
        self.watch = watch
        self.handler = handler
    }
}

/// How a watch follows a list: the answer's items are at `itemsKey`, each item's `cursorKey` is an
/// integer that grows, and the next call passes the last one seen as query parameter `parameter`.
public struct WatchCursor: Sendable, Equatable {
    public var itemsKey: String
    public var cursorKey: String
    public var parameter: String

    public init(itemsKey: String, cursorKey: String, parameter: String) {
        self.itemsKey = itemsKey
        self.cursorKey = cursorKey
        self.parameter = parameter
    }
}

/// One call of an operation on one attachment.
public struct FilterOperationCall: Sendable {
    public var device: DeviceNumber
    public var filter: String
    /// The request's query parameters (decoded), e.g. ["since": "17"].
    public var query: [String: String]
    /// The request's JSON body, for POST; nil when there was none.
    public var body: JSONValue?
    public var control: any FilterControl
    /// The request's Accept header, for an operation that can also answer in a non-JSON form.
    public var accept: String?

    public init(
        device: DeviceNumber, filter: String, query: [String: String], body: JSONValue?, control: any FilterControl,
        accept: String? = nil
    ) {
        self.device = device
        self.filter = filter
        self.query = query
        self.body = body
        self.control = control
        self.accept = accept
    }

    /// Whether the client asked for `mediaType` by name in Accept (wildcards keep JSON).
    public func accepts(_ mediaType: String) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").contains {
            $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == mediaType
        }
    }

    /// A query parameter that must be a non-negative integer when present.
    public func unsignedParameter(_ name: String) throws(FilterOperationError) -> UInt64? {
        guard let text = query[name] else { return nil }
        guard let value = UInt64(text), String(value) == text else {
            throw .invalidValue("The query parameter '\(name)' must be a non-negative integer.")
        }
        return value
    }
}

public struct FilterOperationResult: Sendable, Equatable {
    public var status: Int
    public var body: JSONValue
    /// Set for an answer that is not JSON (cbt's compact map): sent as is, instead of `body`.
    public var raw: RawBody?
    /// Set for an answer read from a file or device (cow's image): the HTTP layer streams it, and
    /// serves Range and HEAD from it.
    public var file: FileBody?

    public init(status: Int = 200, body: JSONValue) {
        self.status = status
        self.body = body
    }

    public init(status: Int = 200, raw: RawBody) {
        self.status = status
        self.body = .null
        self.raw = raw
    }

    public init(file: FileBody) {
        self.status = 200
        self.body = .null
        self.file = file
    }
}

/// A file or device whose first `size` bytes are the answer.
public struct FileBody: Sendable, Equatable {
    public var path: String
    public var size: UInt64
    public var contentType: String

    public init(path: String, size: UInt64, contentType: String) {
        self.path = path
        self.size = size
        self.contentType = contentType
    }
}

/// Bytes with their media type, e.g. `application/octet-stream`.
public struct RawBody: Sendable, Equatable {
    public var contentType: String
    public var bytes: [UInt8]

    public init(contentType: String, bytes: [UInt8]) {
        self.contentType = contentType
        self.bytes = bytes
    }
}

/// Why an operation was refused: the server shows it as problem+json with this type and status.
public struct FilterOperationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The problem type's last word ("invalid-value", "generation-changed", ...).
    public var type: String
    public var status: Int
    public var title: String
    public var detail: String
    /// The kernel's refusal, when the kernel refused.
    public var kernel: FilterControlError?

    public init(type: String, status: Int, title: String, detail: String, kernel: FilterControlError? = nil) {
        self.type = type
        self.status = status
        self.title = title
        self.detail = detail
        self.kernel = kernel
    }

    public static func invalidValue(_ detail: String) -> FilterOperationError {
        FilterOperationError(type: "invalid-value", status: 400, title: "Invalid value", detail: detail)
    }

    public static func kernel(_ error: FilterControlError) -> FilterOperationError {
        FilterOperationError(
            type: "kernel-refused", status: 422, title: "Kernel refused", detail: error.description, kernel: error)
    }

    public static func malformedReply(_ detail: String) -> FilterOperationError {
        FilterOperationError(type: "internal", status: 500, title: "Internal error", detail: detail)
    }

    public var description: String { detail }
}
