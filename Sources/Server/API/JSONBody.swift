// JSONBody: strict reading of a request body: JSON content type, well-formed, an object with known fields only.
import Engine
import Foundation

struct JSONBody {
    let fields: [String: JSONValue]

    /// Checks the content type, parses the body and refuses fields outside `allowed`.
    init(_ request: Request, allowed: Set<String>) throws(Problem) {
        guard let type = request.headers["Content-Type"], JSONBody.isJSON(type) else {
            throw Problem.unsupportedMediaType(request.headers["Content-Type"])
        }
        if request.body.isEmpty { throw Problem.malformedJSON("The request needs a JSON object as its body.") }
        let value: JSONValue
        do {
            value = try JSONCoding.decoder.decode(JSONValue.self, from: Data(request.body))
        } catch {
            throw Problem.malformedJSON("The body is not valid JSON: \(JSONBody.reason(error))")
        }
        guard case .object(let object) = value else {
            throw Problem.malformedJSON("The body must be a JSON object, not \(value.typeName).")
        }
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw Problem.unknownField(JSONBody.printable(unknown))
        }
        fields = object
    }

    func requiredString(_ name: String, maxLength: Int) throws(Problem) -> String {
        guard let value = fields[name] else { throw Problem.invalidValue("The field '\(name)' is required.") }
        return try JSONBody.string(value, name: name, maxLength: maxLength)
    }

    static func string(_ value: JSONValue, name: String, maxLength: Int) throws(Problem) -> String {
        guard case .string(let s) = value else {
            throw Problem.invalidValue("The field '\(name)' must be a string, not \(value.typeName).")
        }
        if s.isEmpty { throw Problem.invalidValue("The field '\(name)' must not be empty.") }
        if s.utf8.count > maxLength {
            throw Problem.invalidValue("The field '\(name)' is longer than \(maxLength) bytes.")
        }
        if s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw Problem.invalidValue("The field '\(name)' must not contain control characters.")
        }
        return s
    }

    /// application/json, optionally with parameters such as charset.
    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return media?.lowercased() == "application/json"
    }

    /// A client's field name in an error message, shortened so a huge name cannot bloat the answer.
    static func printable(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.map { $0.value < 0x20 ? "?" : Character($0) })
        return cleaned.count > 64 ? String(cleaned.prefix(64)) + "..." : cleaned
    }

    private static func reason(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return underlying ?? context.debugDescription
        }
        return "\(error)"
    }
}
