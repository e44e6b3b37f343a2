// FileRangeResponse: an operation's file answer (cow's image) as HTTP: whole (200), one byte range (206) or 416, HEAD alike.
import Engine
import Foundation

enum FileRangeResponse {
    /// The `Range` header read against a body of `size` bytes.
    enum Selection: Equatable {
        case whole
        case range(offset: UInt64, length: UInt64)
        case unsatisfiable
    }

    /// One `bytes=` range (first-last, first-, or -suffix). Several ranges, other units or text
    /// that is not a range are ignored, as RFC 9110 allows, and the whole body is sent.
    static func select(_ header: String?, size: UInt64) -> Selection {
        guard let header else { return .whole }
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = text.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        func number(_ s: String) -> UInt64? { s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber) ? UInt64(s) : nil }
        if first.isEmpty {
            guard let suffix = number(last) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            let length = min(suffix, size)
            return .range(offset: size - length, length: length)
        }
        guard let start = number(first) else { return .whole }
        var end = size == 0 ? 0 : size - 1
        if !last.isEmpty {
            guard let given = number(last), given >= start else { return .whole }
            end = min(given, end)
        }
        guard start < size else { return .unsatisfiable }
        return .range(offset: start, length: end - start + 1)
    }

    static func respond(_ file: FileBody, _ request: Request) throws -> Response {
        let selection = select(request.headers["Range"], size: file.size)
        var headers = HTTPHeaders()
        headers.set("Accept-Ranges", "bytes")
        if case .unsatisfiable = selection {
            var problem = Problem(
                "range-not-satisfiable", status: 416, title: "Range not satisfiable",
                detail:
                    "The range '\(JSONBody.printable(request.headers["Range"] ?? ""))' starts past the end (\(file.size) bytes)."
            )
            problem.headers["Content-Range"] = "bytes */\(file.size)"
            throw problem
        }
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            throw Problem(
                "unavailable", status: 503, title: "Unavailable", detail: "\(file.path) cannot be opened: \(why).")
        }
        let opened = OpenFile(fd: fd)
        headers.set("Content-Type", file.contentType)
        switch selection {
        case .range(let offset, let length):
            headers.set("Content-Range", "bytes \(offset)-\(offset + length - 1)/\(file.size)")
            return Response(status: 206, headers: headers, body: .file(opened, offset: offset, length: length))
        default:
            return Response(status: 200, headers: headers, body: .file(opened, offset: 0, length: file.size))
        }
    }
}
