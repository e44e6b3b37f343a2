// DaemonLogHandlerTests: dmfltd's log lines keep StreamLogHandler's format, one whole line per write.
import Foundation
import Logging
import Testing

@testable import dmfltd

@Suite struct DaemonLogHandlerTests {
    /// Everything `body` wrote to a file opened with O_APPEND (as a log file is), split into lines.
    private func lines(_ body: (Int32) -> Void) throws -> [String] {
        let path = NSTemporaryDirectory() + "dmflt-log-\(UUID().uuidString)"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        #expect(fd >= 0)
        body(fd)
        close(fd)
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func lineHasTimestampLevelLabelSortedMetadataSourceAndMessage() throws {
        let out = try lines { fd in
            var handler = DaemonLogHandler(label: "dmflt.test", descriptor: fd)
            handler.metadataProvider = nil
            handler[metadataKey: "zone"] = "b"
            let logger = Logger(label: "dmflt.test", factory: { _ in handler })
            logger.info(
                "GET /v1/host 200 0.02 ms", metadata: ["remote": "127.0.0.1:1", "alpha": "x"], source: "dmfltd")
            logger.debug("below the level: not written")
            logger.warning("second")
        }
        #expect(out.count == 2)
        let pattern =
            #/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4} info dmflt\.test: alpha=x remote=127\.0\.0\.1:1 zone=b \[dmfltd\] GET /v1/host 200 0\.02 ms$/#
        #expect(out[0].wholeMatch(of: pattern) != nil, "\(out[0])")
        #expect(out[1].contains(" warning dmflt.test: zone=b [") && out[1].hasSuffix("] second"))
    }

    @Test func concurrentLinesNeverInterleave() throws {
        let out = try lines { fd in
            let logger = Logger(label: "dmflt.test", factory: { DaemonLogHandler(label: $0, descriptor: fd) })
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                for i in 0..<50 { logger.info("worker \(worker) line \(i) \(String(repeating: "x", count: 200))") }
            }
        }
        #expect(out.count == 400)
        #expect(
            out.allSatisfy { $0.hasSuffix(String(repeating: "x", count: 200)) && $0.contains(" info dmflt.test: ") })
    }
}
