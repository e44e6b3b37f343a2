// PeersHTTPTransportTests: the real client against real in-process servers: streams pass through, refusals, silence, TLS trust.
import Engine
import Foundation
import Synchronization
import Testing

@testable import dmfltd

/// A stream that sends one line, then waits until the test says it has seen that line before sending the next:
/// the forwarded stream can only finish if chunks cross as they arrive, not when the peer's body ends.
final class GatedLines: ResponseStream {
    private let state = Mutex<(sent: Int, released: Int)>((0, 0))
    let lines: [String]
    init(_ lines: [String]) { self.lines = lines }

    func release() { state.withLock { $0.released += 1 } }

    func next() async -> [UInt8]? {
        while true {
            let step = state.withLock { s -> Int? in
                guard s.sent <= s.released else { return nil }
                s.sent += 1
                return s.sent - 1
            }
            if let i = step { return i < lines.count ? Array(lines[i].utf8) : nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    func cancel() {}
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct PeersHTTPTransportTests {
    static let token = "cluster-secret-0123456789"

    func server(_ handler: @escaping Handler, tls: TLSCredentials? = nil) throws -> HTTPServer {
        let s = HTTPServer(
            configuration: HTTPServerConfiguration(
                listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 2, shutdownGraceSeconds: 0.2,
                tls: tls),
            handler: handler)
        try s.start()
        return s
    }

    func forwarder(to url: String, caFile: String? = nil, timeout: Double = 1) throws -> (
        Handler, HTTPClientPeerTransport
    ) {
        let d = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: InMemoryPeerStorage(), seeds: [.init(name: "b", url: url)])
        let t = HTTPClientPeerTransport(caFile: caFile, connectTimeoutSeconds: timeout)
        let f = PeerForwarder(directory: d, transport: t, clusterToken: Self.token, timeoutSeconds: timeout)
        return (HTTPApplication(router: Router(), middlewares: [ErrorMapping(), f]).handler, t)
    }

    @Test func ndjsonStreamPassesThroughAsItArrives() async throws {
        let lines = GatedLines(["{\"n\":1}\n", "{\"n\":2}\n", "{\"n\":3}\n"])
        let peer = try server { r in
            guard r.path == "/v1/hosts/local/attachments/x/stats", r.queryValue("watch") == "true" else {
                return Problem.notFound(r.path).response()
            }
            return Response(
                status: 200, headers: HTTPHeaders([("Content-Type", "application/x-ndjson")]), body: .stream(lines))
        }
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(peer.port)")
        let response = try await a(
            Request(method: "GET", path: "/v1/hosts/b/attachments/x/stats", query: [("watch", "true")]))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "application/x-ndjson")
        guard case .stream(let stream) = response.body else {
            Issue.record("a chunked answer must stay a stream")
            return
        }
        var received = ""
        while let chunk = await stream.next() {
            received += String(decoding: chunk, as: UTF8.self)
            lines.release()
        }
        #expect(received == "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n")
        await transport.shutdown()
        await peer.stop()
    }

    /// A file answer larger than the forwarder collects (cow's image) crosses as a stream with its
    /// length, byte for byte; a Range and a HEAD cross with their headers.
    @Test func aLargeFileAnswerIsForwardedAsASizedStreamWithItsRangeAndHead() async throws {
        let size = PeerCall.defaultMaxAnswerBytes + 3 * 65536 + 17
        let path = NSTemporaryDirectory() + "dmflt-forward-\(UUID().uuidString)"
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let file = FileBody(path: path, size: UInt64(size), contentType: "application/octet-stream")
        let peer = try server { r in try FileRangeResponse.respond(file, r) }
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(peer.port)", timeout: 5)
        let whole = try await a(Request(method: "GET", path: "/v1/hosts/b/attachments/x/image"))
        #expect(whole.status == 200 && whole.headers["Accept-Ranges"] == "bytes")
        guard case .sizedStream(_, let length) = whole.body else {
            Issue.record("a large sized answer must pass through as a sized stream")
            return
        }
        #expect(length == UInt64(size))
        #expect(await collect(whole.body) == bytes)
        var ranged = Request(method: "GET", path: "/v1/hosts/b/attachments/x/image")
        ranged.headers.set("Range", "bytes=65536-65635")
        let part = try await a(ranged)
        #expect(part.status == 206 && part.headers["Content-Range"] == "bytes 65536-65635/\(size)")
        #expect(await collect(part.body) == Array(bytes[65536..<65636]))
        let head = try await a(Request(method: "HEAD", path: "/v1/hosts/b/attachments/x/image"))
        #expect(head.status == 200)
        guard case .sizedStream(_, let headLength) = head.body else {
            Issue.record("a HEAD answer must keep the peer's length")
            return
        }
        #expect(headLength == UInt64(size))
        await transport.shutdown()
        await peer.stop()
    }

    /// The peer budget bounds the answer's head, not a watch stream: lines keep crossing after it.
    @Test func streamOutlivesThePeerTimeout() async throws {
        let lines = GatedLines((1...4).map { "{\"n\":\($0)}\n" })
        let peer = try server { _ in
            Response(
                status: 200, headers: HTTPHeaders([("Content-Type", "application/x-ndjson")]), body: .stream(lines))
        }
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(peer.port)", timeout: 0.3)
        let response = try await a(Request(method: "GET", path: "/v1/hosts/b/attachments/x/stats"))
        guard case .stream(let stream) = response.body else {
            Issue.record("a chunked answer must stay a stream")
            return
        }
        var received = 0
        while let chunk = await stream.next() {
            received += chunk.filter { $0 == UInt8(ascii: "\n") }.count
            // Each line waits past the whole budget before the peer may send the next.
            try await Task.sleep(for: .milliseconds(400))
            lines.release()
        }
        #expect(received == 4)
        await transport.shutdown()
        await peer.stop()
    }

    @Test func sizedAnswerEqualsTheDirectAnswer() async throws {
        let peer = try server { r in
            var h = HTTPHeaders([("Content-Type", "application/problem+json"), ("X-Custom", "kept")])
            h.set("Allow", "GET")
            return Response(status: 409, headers: h, body: .bytes(Array("{\"path\":\"\(r.path)\"}".utf8)))
        }
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(peer.port)")
        let r = try await a(Request(method: "DELETE", path: "/v1/hosts/b/attachments/x"))
        #expect(r.status == 409)
        #expect(r.headers["Content-Type"] == "application/problem+json")
        #expect(r.headers["X-Custom"] == "kept")
        #expect(r.bodyBytes == Array("{\"path\":\"/v1/hosts/local/attachments/x\"}".utf8))
        await transport.shutdown()
        await peer.stop()
    }

    @Test func noContentStaysWithoutABody() async throws {
        let peer = try server { _ in Response(status: 204) }
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(peer.port)")
        let r = try await a(Request(method: "DELETE", path: "/v1/hosts/b/attachments/x"))
        #expect(r.status == 204)
        #expect(r.bodyBytes == [])
        await transport.shutdown()
        await peer.stop()
    }

    @Test func refusedConnectionIs502() async throws {
        // Bind and close, so the port is known to have no listener.
        let probe = try server { _ in Response(status: 200) }
        let port = probe.port
        await probe.stop()
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(port)")
        let r = try await a(Request(method: "GET", path: "/v1/hosts/b/devices"))
        #expect(r.status == 502)
        #expect(try jsonObject(r)["host"] == .string("b"))
        await transport.shutdown()
    }

    /// Host a's fan-out of /v1/devices over one peer b on `port` (a itself has no devices), 0.5 s per host.
    func devicesFanOut(toPeerOn port: UInt16, transport: any PeerTransport) throws -> PeerFanOut {
        let d = try PeerDirectory(
            selfName: "a", selfURL: nil, storage: InMemoryPeerStorage(),
            seeds: [.init(name: "b", url: "http://127.0.0.1:\(port)")])
        var local = Router()
        local.get("/v1/hosts/{host}/devices") { _ in try Response.json(JSONValue.object(["items": .array([])])) }
        return PeerFanOut(
            directory: d, transport: transport, clusterToken: nil, timeoutSeconds: 0.5, parallelism: 4,
            localRoutes: local)
    }

    @Test func silentPeerIs504AndFanOutReportsItAsPartial() async throws {
        let peer = try server { _ in
            try? await Task.sleep(for: .seconds(20))
            return Response(status: 200)
        }
        let (a, transport) = try forwarder(to: "http://127.0.0.1:\(peer.port)", timeout: 0.5)
        let r = try await a(Request(method: "GET", path: "/v1/hosts/b/devices"))
        #expect(r.status == 504)
        #expect(try jsonObject(r)["type"] == .string("urn:dmflt:problem:peer-timeout"))

        let fanOut = try devicesFanOut(toPeerOn: peer.port, transport: transport)
        let body = try jsonObject(try await fanOut.list(.devices, Request(method: "GET", path: "/v1/devices")))
        #expect(body["partial"] == .bool(true))
        await transport.shutdown()
        await peer.stop()
    }

    /// A peer that sends its head and then stalls in the body costs the fan-out its timeout, no more.
    @Test func peerStallingInItsBodyIsPartialWithinTheTimeout() async throws {
        final class Stalling: ResponseStream, @unchecked Sendable {
            private var sent = false
            func next() async -> [UInt8]? {
                if !sent {
                    sent = true
                    return Array(#"{"items":["#.utf8)
                }
                try? await Task.sleep(for: .seconds(20))
                return nil
            }
            func cancel() {}
        }
        let peer = try server { _ in
            Response(
                status: 200, headers: HTTPHeaders([("Content-Type", "application/json")]), body: .stream(Stalling()))
        }
        let transport = HTTPClientPeerTransport(caFile: nil, connectTimeoutSeconds: 0.5)
        let fanOut = try devicesFanOut(toPeerOn: peer.port, transport: transport)
        let started = ContinuousClock.now
        let body = try jsonObject(try await fanOut.list(.devices, Request(method: "GET", path: "/v1/devices")))
        let took = ContinuousClock.now - started
        #expect(body["partial"] == .bool(true))
        #expect(took < .seconds(5), "the stalled body held the fan-out for \(took)")
        await transport.shutdown()
        await peer.stop()
    }

    @Test func httpsPeerIsTrustedOnlyThroughPeerCA() async throws {
        let dir = NSTemporaryDirectory() + "dmflt-peers-tls-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
            "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        try #require(openssl.terminationStatus == 0)
        let peer = try server(
            { _ in
                Response(
                    status: 200, headers: HTTPHeaders([("Content-Type", "text/plain")]), body: .bytes(Array("ok".utf8)))
            },
            tls: try TLSCredentials(certificateFile: dir + "/cert.pem", keyFile: dir + "/key.pem"))
        let url = "https://127.0.0.1:\(peer.port)"
        let (untrusting, t1) = try forwarder(to: url)
        let refused = try await untrusting(Request(method: "GET", path: "/v1/hosts/b/devices"))
        #expect(refused.status == 502)
        let (trusting, t2) = try forwarder(to: url, caFile: dir + "/cert.pem")
        let ok = try await trusting(Request(method: "GET", path: "/v1/hosts/b/devices"))
        #expect(ok.status == 200)
        #expect(ok.bodyBytes == Array("ok".utf8))
        await t1.shutdown()
        await t2.shutdown()
        await peer.stop()
    }
}
