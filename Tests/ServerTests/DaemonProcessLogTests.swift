// DaemonProcessLogTests: a real dmfltd stopped by SIGTERM has written every line of every request it answered, in order, as --access-log chose them.
import Foundation
import Testing

@Suite(.serialized) struct DaemonProcessLogTests {
    /// The dmfltd of this build (beside the test bundle), serving on a port of the kernel's choice with a
    /// fresh state directory and its standard error in a file.
    final class RunningDaemon {
        let process = Process()
        let directory = NSTemporaryDirectory() + "dmflt-daemon-log-\(UUID().uuidString)"
        var logPath: String { directory + "/dmfltd.log" }
        private(set) var port: UInt16 = 0

        init(_ arguments: [String]) async throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = try DaemonProcessLogTests.binary()
            process.arguments =
                ["serve", "--listen", "127.0.0.1:0", "--state-dir", directory + "/state", "--host-name", "testhost"]
                + arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try process.run()
            let path = logPath
            let found = await eventually(seconds: 30) {
                Self.boundPort(in: (try? String(contentsOfFile: path)) ?? "") != nil
            }
            guard found, let port = Self.boundPort(in: try log()) else {
                throw TestFailure("dmfltd did not say where it serves: \(try log())")
            }
            self.port = port
        }

        /// From "dmfltd 0.1.0 serving testhost on http://127.0.0.1:PORT, state in ...".
        static func boundPort(in log: String) -> UInt16? {
            guard let r = log.range(of: "serving testhost on http://127.0.0.1:") else { return nil }
            return UInt16(log[r.upperBound...].prefix { $0.isNumber })
        }

        func log() throws -> String { try String(contentsOfFile: logPath, encoding: .utf8) }

        /// SIGTERM, then the exit status once the process has ended.
        func terminate() -> Int32 {
            process.terminate()
            process.waitUntilExit()
            return process.terminationStatus
        }

        deinit {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func binary() throws -> URL {
        let beside = [Bundle.main.executableURL, URL(fileURLWithPath: CommandLine.arguments[0])].compactMap {
            $0?.deletingLastPathComponent().appendingPathComponent("dmfltd")
        }
        guard let found = beside.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw TestFailure("no dmfltd beside the tests (\(beside.map(\.path))); build with --build-tests")
        }
        return found
    }

    /// Requests over one connection, each answered before the next is sent: a read, then a detach of
    /// an attachment that does not exist (a mutation, so it is audited), `count` times.
    static func readAndDetach(port: UInt16, count: Int) async throws {
        try await onThread {
            let client = try RawClient(port: port)
            for i in 0..<count {
                let (read, _) = try client.request("GET", "/v1/host")
                let (detach, _) = try client.request("DELETE", "/v1/hosts/local/attachments/gone-\(i)")
                guard read.status == 200, detach.status == 404 else {
                    throw TestFailure("request \(i): GET \(read.status), DELETE \(detach.status)")
                }
            }
        }
    }

    /// The request lines of the log (access and audit), shortened to what identifies them.
    static func requestLines(_ log: String) -> [String] {
        log.split(separator: "\n").compactMap { line in
            if let r = line.range(of: "role=open method=DELETE path=") {
                return "audit " + line[r.upperBound...].prefix { $0 != " " }
            }
            if line.contains("] GET /v1/host 200 ") { return "GET /v1/host" }
            if line.contains("] DELETE /v1/hosts/{host}/attachments/{id} 404 ") { return "DELETE" }
            return nil
        }
    }

    /// With --access-log all, each request's access line and each mutation's audit line, in the order the
    /// requests were answered, are in the log once SIGTERM has stopped the daemon, before its last line.
    @Test func sigtermLeavesEveryLineInOrder() async throws {
        let daemon = try await RunningDaemon(["--access-log", "all"])
        let count = 200
        try await Self.readAndDetach(port: daemon.port, count: count)
        #expect(daemon.terminate() == 0)
        let log = try daemon.log()
        let expected = (0..<count).flatMap {
            ["GET /v1/host", "audit /v1/hosts/local/attachments/gone-\($0)", "DELETE"]
        }
        #expect(Self.requestLines(log) == expected)
        let lines = log.split(separator: "\n")
        #expect(lines.last?.hasSuffix("] stopped") == true, "\(lines.suffix(3))")
        let lastRequest = try #require(
            lines.lastIndex { $0.contains("] DELETE /v1/hosts/{host}/attachments/{id} 404 ") })
        let received = try #require(lines.firstIndex { $0.hasSuffix("] received SIGTERM") })
        #expect(lastRequest < received)
    }

    /// `mutations` keeps the mutations' access lines and `none` keeps none; both keep every audit line.
    @Test(arguments: ["mutations", "none"]) func accessLogModeChoosesTheLinesButKeepsTheAudit(mode: String) async throws
    {
        let daemon = try await RunningDaemon(["--access-log", mode])
        let count = 20
        try await Self.readAndDetach(port: daemon.port, count: count)
        #expect(daemon.terminate() == 0)
        let audit = { (i: Int) in "audit /v1/hosts/local/attachments/gone-\(i)" }
        let expected = (0..<count).flatMap { mode == "none" ? [audit($0)] : [audit($0), "DELETE"] }
        #expect(Self.requestLines(try daemon.log()) == expected)
    }

    @Test func anUnknownAccessLogModeStopsTheStartWithTheChoices() throws {
        let process = Process()
        process.executableURL = try Self.binary()
        let directory = NSTemporaryDirectory() + "dmflt-daemon-log-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        process.arguments = ["serve", "--state-dir", directory, "--access-log", "scrapes"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        #expect(text.contains("--access-log must be one of all, mutations, none, not 'scrapes'"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: directory), "nothing is created for a refused start")
    }
}
