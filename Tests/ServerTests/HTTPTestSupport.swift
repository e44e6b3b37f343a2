// HTTPTestSupport: helpers for the HTTP layer tests (a raw socket client, a log recorder, test streams).
import Foundation
import Logging
import Synchronization

@testable import dmfltd

/// Runs blocking socket work on its own thread so the cooperative pool (which runs the server's
/// handlers) is never starved by a test waiting in recv().
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A deliberately dumb HTTP/1.1 client on a blocking socket: it shows exactly what went over the wire.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: UInt16, host: String = "127.0.0.1", timeoutSeconds: Int = 10) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc: Int32
        if v6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &sa.sin6_addr)
            rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &sa.sin_addr)
            rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure("connect to \(host):\(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw TestFailure("send failed: errno \(errno)") }
            sent += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw TestFailure("recv failed: errno \(errno) (timeout?)") }
        if n == 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<i], as: UTF8.self).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\r"))
                buffer.removeSubrange(...i)
                return line
            }
            guard try fill() else { throw TestFailure("connection closed while reading a line") }
        }
    }

    func readExactly(_ n: Int) throws -> [UInt8] {
        while buffer.count < n {
            guard try fill() else { throw TestFailure("connection closed after \(buffer.count) of \(n) bytes") }
        }
        let out = Array(buffer[..<n])
        buffer.removeSubrange(..<n)
        return out
    }

    /// True when the server has closed the connection (after anything already buffered).
    func isClosedByPeer() throws -> Bool {
        buffer.removeAll()
        return try !fill()
    }

    struct Head {
        var status: Int
        var headers: [String: String]  // lower-cased names
    }

    func readHead() throws -> Head {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("bad status line '\(statusLine)'") }
        var headers: [String: String] = [:]
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                    in: .whitespaces)
            }
        }
        return Head(status: status, headers: headers)
    }

    /// One chunk of a chunked body; nil for the terminating zero chunk.
    func readChunk() throws -> [UInt8]? {
        let sizeLine = try readLine()
        guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
            throw TestFailure("bad chunk size '\(sizeLine)'")
        }
        if size == 0 {
            _ = try readLine()
            return nil
        }
        let data = try readExactly(size)
        _ = try readLine()
        return data
    }

    func readResponse(head isHead: Bool = false) throws -> (Head, String) {
        let head = try readHead()
        if isHead { return (head, "") }
        if head.headers["transfer-encoding"]?.lowercased() == "chunked" {
            var body: [UInt8] = []
            while let c = try readChunk() { body += c }
            return (head, String(decoding: body, as: UTF8.self))
        }
        let length = Int(head.headers["content-length"] ?? "0") ?? 0
        return (head, String(decoding: try readExactly(length), as: UTF8.self))
    }

    func request(_ method: String, _ path: String, headers: [String: String] = [:], body: String = "") throws -> (
        Head, String
    ) {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: test\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + body
        try send(text)
        return try readResponse(head: method == "HEAD")
    }
}

/// Collects log lines (message plus metadata) for assertions.
final class LogRecorder: @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }

    func logger(_ label: String) -> Logger {
        var l = Logger(label: label) { _ in Handler(recorder: self) }
        l.logLevel = .trace
        return l
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let meta = (event.metadata ?? [:]).merging(metadata) { a, _ in a }
            let line =
                "\(event.level) \(event.message) \(meta.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))"
            recorder.lines.withLock { $0.append(line) }
        }
    }
}

/// Waits (polling) until the condition holds; false if it never did within the limit.
func eventually(seconds: Double = 10, _ condition: @Sendable () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// A stream fed by the test: each `push` becomes one chunk, `finish` ends it; records cancel().
final class ScriptedStream: ResponseStream, @unchecked Sendable {
    private struct State {
        var queue: [[UInt8]?] = []
        var waiter: CheckedContinuation<[UInt8]?, Never>?
        var cancels = 0
        var pulls = 0
        var cancelled = false
    }
    private let state = Mutex(State())

    var cancelCount: Int { state.withLock { $0.cancels } }
    var pullCount: Int { state.withLock { $0.pulls } }

    func push(_ text: String) { offer(Array(text.utf8)) }
    func finish() { offer(nil) }

    private func offer(_ item: [UInt8]?) {
        let waiter = state.withLock { s -> CheckedContinuation<[UInt8]?, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.queue.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    func next() async -> [UInt8]? {
        await withCheckedContinuation { c in
            let ready = state.withLock { s -> [UInt8]?? in
                s.pulls += 1
                if s.cancelled { return .some(nil) }
                if !s.queue.isEmpty { return .some(s.queue.removeFirst()) }
                s.waiter = c
                return .none
            }
            if case .some(let item) = ready { c.resume(returning: item) }
        }
    }

    func cancel() {
        let waiter = state.withLock { s -> CheckedContinuation<[UInt8]?, Never>? in
            s.cancels += 1
            s.cancelled = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }
}

/// Starts a server on 127.0.0.1 with an ephemeral port for the length of `body`, then stops it.
func withServer(
    _ app: HTTPApplication, configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (HTTPServer) async throws -> Void
) async throws {
    var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 2)
    configure(&config)
    var logger = Logger(label: "test.http")
    logger.logLevel = .warning
    let server = HTTPServer(configuration: config, application: app, logger: logger)
    try server.start()
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}
