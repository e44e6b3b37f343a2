// AttachRequest: the body of POST/PUT .../attachments, checked strictly before anything is resolved.
import Engine
import Foundation

struct AttachRequest: Sendable, Equatable {
    var device: String
    var filter: String
    var options: [String: JSONValue]

    static let fields: Set<String> = ["device", "filter", "options"]

    init(_ request: Request) throws(Problem) {
        let body = try JSONBody(request, allowed: AttachRequest.fields)
        device = try body.requiredString("device", maxLength: 4096)
        filter = try body.requiredString("filter", maxLength: 31)
        options = [:]
        switch body.fields["options"] {
        case nil, .null?:
            break
        case .object(let object)?:
            for (name, value) in object {
                if name.isEmpty || name.utf8.count > 64 {
                    throw Problem.invalidValue("Option names are 1 to 64 bytes; got '\(JSONBody.printable(name))'.")
                }
                switch value {
                case .bool, .int, .string: options[name] = value
                default:
                    throw Problem.invalidValue(
                        "The option '\(JSONBody.printable(name))' must be a boolean, integer or string, not \(value.typeName)."
                    )
                }
            }
        case let other?:
            throw Problem.invalidValue("The field 'options' must be an object, not \(other.typeName).")
        }
    }
}

struct MessageRequest: Sendable, Equatable {
    var message: String

    init(_ request: Request) throws(Problem) {
        let body = try JSONBody(request, allowed: ["message"])
        message = try body.requiredString("message", maxLength: 4095)
    }
}
