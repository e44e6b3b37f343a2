// JSONWriterTests: JSONValue.serialized() writes the bytes JSONEncoder (sorted keys) writes, escapes included.
import Foundation
import Testing

@testable import Engine

@Suite struct JSONWriterTests {
    static func encoderBytes(_ v: JSONValue) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(v))
    }

    @Test func theBytesAreTheEncodersForEveryKindOfValue() throws {
        let doc: JSONValue = .object([
            "z": .array([.int(0), .int(-1), .int(Int64.min), .int(Int64.max), .null, .bool(true), .bool(false)]),
            "a": .object(["extents": .array([.object(["offset": .int(4096), "length": .int(65536)])])]),
            "numbers": .array([.double(1.5), .double(2.0), .double(-0.25)]),
            "text": .string(
                "quote \" backslash \\ slash / tab \t nl \n cr \r ctl \u{01}\u{1f} bs \u{08} ff \u{0c} é 🙂"),
            "": .string(""),
        ])
        let mine = doc.serialized()
        #expect(String(decoding: mine, as: UTF8.self) == String(decoding: try Self.encoderBytes(doc), as: UTF8.self))
        // Read back, it is the same document (2.0 comes back as the integer 2, as JSON has one number type).
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(mine)).serialized() == mine)
    }

    @Test func aLargeListOfExtentsRoundTrips() throws {
        let extents = (0..<10_000).map { i in
            JSONValue.object(["offset": .int(Int64(i) * 131_072), "length": .int(65536)])
        }
        let doc: JSONValue = .object(["extents": .array(extents), "sequence": .int(3)])
        #expect(doc.serialized() == (try Self.encoderBytes(doc)))
    }
}
