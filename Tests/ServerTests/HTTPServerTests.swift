// HTTPServerTests: the libmicrohttpd server over real loopback sockets (keep-alive, limits, streams, shutdown, TLS).
import Foundation
import Synchronization
import Testing

@testable import dmfltd

@Suite(.serialized)
struct HTTPServerTests {
    /// Routes exercising each path through the server: immediate, suspended, body echo, streams.
    static func app(stream: ScriptedStream? = nil, gate: Gate? = nil) -> HTTPApplication {
        var r = Router()
        r.get("/v1/host") { _ in try Response.json(["name": "test-host"]) }
        r.get("/v1/slow") { _ in
            try await Task.sleep(for: .milliseconds(20))  // a real suspension: the connection is parked
            return try Response.json(["slow": "yes"])
        }
        r.post("/v1/echo") { req in
            Response(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: .bytes(req.body))
        }
        r.get("/v1/items/{id}") { req in
            try Response.json(["id": req.pathParameters["id"] ?? "", "q": req.queryValue("q") ?? ""])
        }
        r.get("/v1/gated") { _ in
            await gate?.enteredAndWait()
            return try Response.json(["finished": "yes"])
        }
        if let stream {
            r.get("/v1/stream") { _ in
                Response(
                    status: 200, headers: HTTPHeaders([("Content-Type", "application/x-ndjson")]), body: .stream(stream)
                )
            }
        }
        return HTTPApplication(router: r, middlewares: [ErrorMapping()])
    }

    @Test func servesSeveralRequestsOnOneKeepAliveConnection() async throws {
        try await withServer(Self.app()) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                let (h1, b1) = try c.request("GET", "/v1/host")
                let (h2, b2) = try c.request("GET", "/v1/slow")
                let (h3, b3) = try c.request("GET", "/v1/items/a7?q=x%20y")
                #expect(h1.status == 200 && b1 == #"{"name":"test-host"}"#)
                #expect(h2.status == 200 && b2 == #"{"slow":"yes"}"#)
                #expect(h3.status == 200 && b3 == #"{"id":"a7","q":"x y"}"#)
                #expect(h3.headers["connection"]?.lowercased() != "close")
            }
        }
    }

    /// A shared body goes out by reference: intact every time, and libmicrohttpd lets go of it once sent.
    @Test func sendsASharedBodyIntactAndReleasesIt() async throws {
        let text = (0..<20_000).map { "line \($0)\n" }.joined()
        weak var released: SharedBody?
        do {
            let shared = SharedBody(Array(text.utf8))
            released = shared
            var r = Router()
            r.get("/v1/shared") { _ in
                Response(status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: .shared(shared))
            }
            try await withServer(HTTPApplication(router: r)) { server in
                let port = server.port
                try await onThread {
                    let c = try RawClient(port: port)
                    for _ in 0..<3 {
                        let (h, b) = try c.request("GET", "/v1/shared")
                        #expect(h.status == 200 && h.headers["content-length"] == String(text.utf8.count))
                        #expect(b == text)
                    }
                }
            }
        }
        #expect(released == nil)
    }

    /// The listeners share their port with each other (SO_REUSEPORT), never with another server: a
    /// second daemon on a taken port fails to start, as it would without the reuse group.
    @Test func aTakenPortIsRefusedAndEveryListenerServes() async throws {
        try await withServer(Self.app()) { server in
            let port = server.port
            for threads in [1, 2, 3] {
                let second = HTTPServer(
                    configuration: HTTPServerConfiguration(
                        listen: try ListenAddress(parsing: "127.0.0.1:\(port)"), threadPoolSize: threads),
                    application: Self.app())
                #expect(throws: HTTPServerError.self) { try second.start() }
            }
            // Sixteen connections at once, spread over the listeners by the kernel: every one is served.
            try await onThread {
                let clients = try (0..<16).map { _ in try RawClient(port: port) }
                for c in clients {
                    let (h, b) = try c.request("GET", "/v1/host")
                    #expect(h.status == 200 && b == #"{"name":"test-host"}"#)
                }
            }
        }
    }

    @Test func gathersTheRequestBody() async throws {
        let body = String(repeating: "0123456789abcdef", count: 8192)  // 128 KiB, several upload calls
        try await withServer(Self.app()) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                let (head, echoed) = try c.request("POST", "/v1/echo", body: body)
                #expect(head.status == 200)
                #expect(echoed == body)
            }
        }
    }

    @Test func refusesAnOversizedBodyWith413AndClosesTheConnection() async throws {
        try await withServer(Self.app(), configure: { $0.maxBodyBytes = 1024 }) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                // Announce 10 MB but send only the headers: the answer must not wait for the body.
                try c.send(
                    "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
                )
                let (head, body) = try c.readResponse()
                #expect(head.status == 413)
                #expect(head.headers["content-type"] == "application/problem+json")
                #expect(body.contains("\"type\":\"urn:dmflt:problem:payload-too-large\""))
                #expect(try c.isClosedByPeer())
            }
        }
    }

    @Test func closesAChunkedUploadThatOutgrowsTheLimit() async throws {
        try await withServer(Self.app(), configure: { $0.maxBodyBytes = 1024 }) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                let chunk = String(repeating: "x", count: 4096)
                try c.send(
                    "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n\(chunk)\r\n")
                #expect(try c.isClosedByPeer())
            }
        }
    }

    @Test func answersUnknownPathsAndMethodsWithProblemJSON() async throws {
        try await withServer(Self.app()) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                let (h404, b404) = try c.request("GET", "/v1/nothing-here")
                #expect(h404.status == 404)
                #expect(h404.headers["content-type"] == "application/problem+json")
                #expect(b404.contains("urn:dmflt:problem:not-found"))
                let (h405, b405) = try c.request("DELETE", "/v1/host")
                #expect(h405.status == 405)
                #expect(h405.headers["allow"] == "GET, HEAD, OPTIONS")
                #expect(b405.contains("urn:dmflt:problem:method-not-allowed"))
                let (hHead, _) = try c.request("HEAD", "/v1/host")
                #expect(hHead.status == 200)
                #expect(hHead.headers["content-length"] == "\(#"{"name":"test-host"}"#.utf8.count)")
                // The HEAD answer carried no body: the next response on the connection parses cleanly.
                let (hAfter, bAfter) = try c.request("GET", "/v1/host")
                #expect(hAfter.status == 200 && bAfter == #"{"name":"test-host"}"#)
            }
        }
    }

    @Test func refusesAnOversizedRequestHead() async throws {
        try await withServer(Self.app(), configure: { $0.connectionMemoryLimit = 16 * 1024 }) { server in
            let port = server.port
            try await onThread {
                let c = try RawClient(port: port)
                let huge = String(repeating: "a", count: 64 * 1024)
                try c.send("GET /v1/host HTTP/1.1\r\nHost: t\r\nX-Big: \(huge)\r\n\r\n")
                let head = try c.readHead()
                #expect(head.status == 431 || head.status == 414 || head.status == 413)
            }
        }
    }

    @Test func streamsChunksAsTheyAreProduced() async throws {
        let stream = ScriptedStream()
        try await withServer(Self.app(stream: stream)) { server in
            let port = server.port
            let client = try await onThread { () -> RawClient in
                let c = try RawClient(port: port)
                try c.send("GET /v1/stream HTTP/1.1\r\nHost: t\r\n\r\n")
                return c
            }
            stream.push("{\"tick\":1}\n")
            let (head, first) = try await onThread { (try client.readHead(), try client.readChunk()) }
            #expect(head.status == 200)
            #expect(head.headers["transfer-encoding"] == "chunked")
            #expect(first.map { String(decoding: $0, as: UTF8.self) } == "{\"tick\":1}\n")
            // The second tick does not exist yet when the first arrived: delivery is incremental.
            stream.push("{\"tick\":2}\n")
            let second = try await onThread { try client.readChunk() }
            #expect(second.map { String(decoding: $0, as: UTF8.self) } == "{\"tick\":2}\n")
            stream.finish()
            let end = try await onThread { try client.readChunk() }
            #expect(end == nil)
            // Keep-alive survives a finished stream, and a stream that ended is not cancelled.
            let (after, _) = try await onThread { try client.request("GET", "/v1/host") }
            #expect(after.status == 200)
            #expect(stream.cancelCount == 0)
        }
    }

    @Test func cancelsTheStreamOnceWhenTheClientGoesAway() async throws {
        let stream = ScriptedStream()
        try await withServer(Self.app(stream: stream)) { server in
            let port = server.port
            let client = try await onThread { () -> RawClient in
                let c = try RawClient(port: port)
                try c.send("GET /v1/stream HTTP/1.1\r\nHost: t\r\n\r\n")
                return c
            }
            stream.push("hello\n")
            _ = try await onThread { (try client.readHead(), try client.readChunk()) }
            shutdown(client.fd, Int32(SHUT_RDWR))
            // A suspended connection only notices the loss when it writes: the producer's next
            // heartbeat does that, as watch streams do.
            let cancelled = await eventually {
                stream.push(": heartbeat\n")
                return stream.cancelCount > 0
            }
            #expect(cancelled)
            try await Task.sleep(for: .milliseconds(100))
            #expect(stream.cancelCount == 1)
        }
    }

    @Test func idleStreamsHoldNoPoolThread() async throws {
        // One pool thread and two parked streams: a plain request still gets through.
        let a = ScriptedStream()
        let b = ScriptedStream()
        var r = Router()
        r.get("/a") { _ in Response(status: 200, body: .stream(a)) }
        r.get("/b") { _ in Response(status: 200, body: .stream(b)) }
        r.get("/v1/host") { _ in try Response.json(["name": "h"]) }
        try await withServer(HTTPApplication(router: r), configure: { $0.threadPoolSize = 1 }) { server in
            let port = server.port
            let (ha, hb, plain) = try await onThread { () -> (Int, Int, Int) in
                let ca = try RawClient(port: port)
                try ca.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
                let cb = try RawClient(port: port)
                try cb.send("GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
                a.push("x")
                b.push("y")
                let ha = try ca.readHead().status
                let hb = try cb.readHead().status
                let plain = try RawClient(port: port).request("GET", "/v1/host").0.status
                a.finish()
                b.finish()
                return (ha, hb, plain)
            }
            #expect(ha == 200 && hb == 200 && plain == 200)
        }
    }

    @Test func stopLetsARequestInFlightFinish() async throws {
        let gate = Gate()
        var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 2)
        config.shutdownGraceSeconds = 10
        let server = HTTPServer(configuration: config, application: Self.app(gate: gate))
        try server.start()
        let port = server.port
        async let answer = onThread { try RawClient(port: port).request("GET", "/v1/gated") }
        #expect(await eventually { gate.entered })
        async let stopped: Void = server.stop()
        // stop() is waiting for the handler; once released, the client still gets its answer.
        try await Task.sleep(for: .milliseconds(100))
        gate.open()
        let (head, body) = try await answer
        await stopped
        #expect(head.status == 200)
        #expect(body == #"{"finished":"yes"}"#)
        #expect(head.headers["connection"]?.lowercased() == "close")
        // And the listener is gone.
        #expect(throws: (any Error).self) { _ = try RawClient(port: port) }
    }

    @Test func stopEndsOpenStreams() async throws {
        let stream = ScriptedStream()
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(
                listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 2),
            application: Self.app(stream: stream))
        try server.start()
        let port = server.port
        let client = try await onThread { () -> RawClient in
            let c = try RawClient(port: port)
            try c.send("GET /v1/stream HTTP/1.1\r\nHost: t\r\n\r\n")
            return c
        }
        stream.push("one\n")
        _ = try await onThread { (try client.readHead(), try client.readChunk()) }
        await server.stop()
        #expect(stream.cancelCount == 1)
        // The stream ended with the chunked terminator, not a torn connection.
        let end = try await onThread { try client.readChunk() }
        #expect(end == nil)
    }

    @Test func servesIPv6Loopback() async throws {
        guard (try? RawClient(port: 9, host: "::1")) != nil || errno != EAFNOSUPPORT else { return }
        let config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "[::1]:0"), threadPoolSize: 1)
        let server = HTTPServer(configuration: config, application: Self.app())
        try server.start()
        let port = server.port
        let (head, body) = try await onThread { try RawClient(port: port, host: "::1").request("GET", "/v1/host") }
        await server.stop()
        #expect(head.status == 200 && body == #"{"name":"test-host"}"#)
    }

    @Test func refusesAnAddressInUseWithTheReason() async throws {
        try await withServer(Self.app()) { server in
            let taken = HTTPServer(
                configuration: HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:\(server.port)")),
                application: Self.app())
            #expect {
                try taken.start()
            } throws: { error in
                "\(error)".contains("127.0.0.1:\(server.port)")
            }
        }
    }
}

/// Lets a test hold a handler in flight and release it.
final class Gate: Sendable {
    private let state = Mutex<(entered: Bool, open: Bool, waiter: CheckedContinuation<Void, Never>?)>(
        (false, false, nil))
    var entered: Bool { state.withLock { $0.entered } }

    func enteredAndWait() async {
        await withCheckedContinuation { c in
            let go = state.withLock { s -> Bool in
                s.entered = true
                if s.open { return true }
                s.waiter = c
                return false
            }
            if go { c.resume() }
        }
    }

    func open() {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.open = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume()
    }
}
