// FileRangeResponseTests: Range headers read against a body's size, and a file answered whole, by range, or 416.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct FileRangeResponseTests {
    @Test func oneByteRangeInEachFormAndWhatIsIgnored() {
        let size: UInt64 = 1000
        let cases: [(String?, FileRangeResponse.Selection)] = [
            (nil, .whole),
            ("bytes=0-99", .range(offset: 0, length: 100)),
            ("bytes=900-", .range(offset: 900, length: 100)),
            ("bytes=-10", .range(offset: 990, length: 10)),
            ("bytes=-5000", .range(offset: 0, length: 1000)),
            ("bytes=990-5000", .range(offset: 990, length: 10)),
            ("bytes=999-999", .range(offset: 999, length: 1)),
            ("bytes=1000-", .unsatisfiable),
            ("bytes=-0", .unsatisfiable),
            ("bytes=5-1", .whole),  // not a range: ignored
            ("bytes=0-1,5-6", .whole),  // several: the whole body
            ("items=0-1", .whole),
            ("bytes=x-", .whole),
        ]
        for (header, want) in cases {
            #expect(FileRangeResponse.select(header, size: size) == want, "\(header ?? "nil")")
        }
    }

    @Test func aFileIsAnsweredWholeByRangeOr416() throws {
        let path = NSTemporaryDirectory() + "dmflt-range-\(UUID().uuidString)"
        try Data((0..<4096).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let file = FileBody(path: path, size: 4096, contentType: "application/octet-stream")
        func ask(_ range: String?) throws -> Response {
            var headers = HTTPHeaders()
            if let range { headers.set("Range", range) }
            return try FileRangeResponse.respond(file, Request(method: "GET", path: "/x", headers: headers, body: []))
        }
        let whole = try ask(nil)
        #expect(whole.status == 200 && whole.headers["Accept-Ranges"] == "bytes")
        guard case .file(_, let offset, let length) = whole.body else {
            Issue.record("not a file body")
            return
        }
        #expect(offset == 0 && length == 4096)
        let part = try ask("bytes=100-199")
        #expect(part.status == 206 && part.headers["Content-Range"] == "bytes 100-199/4096")
        guard case .file(_, let o2, let l2) = part.body else {
            Issue.record("not a file body")
            return
        }
        #expect(o2 == 100 && l2 == 100)
        do {
            _ = try ask("bytes=4096-")
            Issue.record("a range past the end was served")
        } catch let problem as Problem {
            #expect(problem.status == 416 && problem.headers["Content-Range"] == "bytes */4096")
        }
        var missing = file
        missing.path = path + "-gone"
        #expect(throws: Problem.self) {
            try FileRangeResponse.respond(missing, Request(method: "GET", path: "/x", headers: HTTPHeaders(), body: []))
        }
    }
}
