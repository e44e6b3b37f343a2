// DaemonLogHandlerTests: dmfltd's log lines keep StreamLogHandler's format, whole lines in the order they were made.
import Foundation
import Logging
import Testing

@testable import dmfltd

@Suite struct DaemonLogHandlerTests {
    /// Everything `body` logged through the writer of a log file, split into lines.
    private func lines(_ body: (LogWriter) -> Void) throws -> [String] {
        let file = TemporaryLogFile()
        body(file.writer)
        return try file.text().split(separator: "\n").map(String.init)
    }

    @Test func lineHasTimestampLevelLabelSortedMetadataSourceAndMessage() throws {
        let out = try lines { writer in
            var handler = DaemonLogHandler(label: "dmflt.test", writer: writer)
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
        let out = try lines { writer in
            let logger = Logger(label: "dmflt.test", factory: { DaemonLogHandler(label: $0, writer: writer) })
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                for i in 0..<50 { logger.info("worker \(worker) line \(i) \(String(repeating: "x", count: 200))") }
            }
        }
        #expect(out.count == 400)
        #expect(
            out.allSatisfy { $0.hasSuffix(String(repeating: "x", count: 200)) && $0.contains(" info dmflt.test: ") })
    }

    /// Lines of one thread keep their order across batches, whatever the other threads log meanwhile.
    @Test func eachThreadsLinesKeepTheirOrder() throws {
        let out = try lines { writer in
            let logger = Logger(label: "dmflt.test", factory: { DaemonLogHandler(label: $0, writer: writer) })
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                for i in 0..<2000 { logger.info("worker \(worker) line \(i)") }
            }
        }
        #expect(out.count == 8000)
        for worker in 0..<4 {
            let numbers = out.compactMap { line -> Int? in
                guard let r = line.range(of: "] worker \(worker) line ") else { return nil }
                return Int(line[r.upperBound...])
            }
            #expect(numbers == Array(0..<2000), "worker \(worker)")
        }
    }

    /// An error line is on disk when `log` returns (with every line before it); an info line may wait
    /// for the next batch, and `flush` writes it.
    @Test func errorLinesAreWrittenBeforeLogReturns() throws {
        let file = TemporaryLogFile()
        let logger = file.logger("dmflt.test")
        logger.info("before")
        logger.error("the reason")
        let text = try file.onDisk()
        #expect(text.hasSuffix("] the reason\n") && text.contains("] before\n"), "\(text)")
        logger.info("after")
        #expect(try file.text().hasSuffix("] after\n"))
    }
}
