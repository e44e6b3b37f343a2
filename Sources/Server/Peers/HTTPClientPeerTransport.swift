// HTTPClientPeerTransport: PeerTransport on async-http-client (pooled keep-alive, streamed bodies, --peer-ca trust).
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// async-http-client rather than URLSession: on Linux URLSession (libcurl) cannot be given a private CA
/// (only the system store), so `--peer-ca` would be impossible; AHC takes trust roots per client.
final class HTTPClientPeerTransport: PeerTransport {
    private let caFile: String?
    private let connectTimeoutSeconds: Double
    /// Made at the first peer call: a daemon without peers never starts NIO's threads or maps the
    /// client's and TLS code (about 1.5 MB of resident memory).
    private let made = Mutex<HTTPClient?>(nil)

    init(caFile: String?, connectTimeoutSeconds: Double) {
        self.caFile = caFile
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    private var client: HTTPClient {
        made.withLock { made in
            if let client = made { return client }
            var tls = TLSConfiguration.makeClientConfiguration()
            if let caFile { tls.trustRoots = .file(caFile) }
            var config = HTTPClient.Configuration(
                tlsConfiguration: tls, redirectConfiguration: .disallow,
                timeout: .init(connect: .milliseconds(Int64(connectTimeoutSeconds * 1000))))
            config.decompression = .disabled
            // A refused connection is an answer (502 at once), not something to retry until the budget is gone.
            config.connectionPool.retryConnectionEstablishment = false
            // Bodies are passed through as the peer sent them; HTTP/1.1 matches what libmicrohttpd speaks.
            config.httpVersion = .http1Only
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            made = client
            return client
        }
    }

    func shutdown() async {
        guard let client = made.withLock({ $0 }) else { return }
        try? await client.shutdown()
    }

    func send(_ call: PeerCall, timeoutSeconds: Double, streamUnsized: Bool) async throws(PeerCallFailure) -> PeerAnswer
    {
        var request = HTTPClientRequest(url: call.url)
        request.method = HTTPMethod(rawValue: call.method)
        for (name, value) in call.headers { request.headers.add(name: name, value: value) }
        if !call.body.isEmpty { request.body = .bytes(ByteBuffer(bytes: call.body)) }
        let started = ContinuousClock.now
        let budget = Duration.milliseconds(Int64(timeoutSeconds * 1000))
        let response: HTTPClientResponse
        do {
            if streamUnsized {
                // AHC's deadline covers the body too, and would cut a watch stream after the budget: the
                // budget bounds only the answer's head here, and a collected body gets what is left of it.
                response = try await Self.head(of: request, on: client, within: budget)
            } else {
                response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
            }
        } catch {
            throw Self.failure(error)
        }
        var headers = HTTPHeaders()
        for h in response.headers { headers.add(h.name, h.value) }
        let status = Int(response.status.code)
        // 204, 304 and HEAD answers have no body whatever their headers say; only a real unsized body streams.
        let bodiless = status == 204 || status == 304 || call.method == "HEAD"
        let length = response.headers.first(name: "content-length").flatMap { UInt64($0) }
        if streamUnsized && !bodiless {
            if length == nil {
                return PeerAnswer(status: status, headers: headers, body: .stream(PeerBodyStream(response.body)))
            }
            // A body too large to collect (an image) passes through as it comes, its length kept.
            if let length, length > UInt64(call.maxAnswerBytes) {
                return PeerAnswer(
                    status: status, headers: headers,
                    body: .sizedStream(PeerBodyStream(response.body), length: length))
            }
        }
        if streamUnsized && call.method == "HEAD", let length, length > 0 {
            // The peer's Content-Length is the answer to a HEAD; an empty body would say 0.
            return PeerAnswer(status: status, headers: headers, body: .sizedStream(NoBody(), length: length))
        }
        let left = budget - (ContinuousClock.now - started)
        let bytes = try await Self.collect(response.body, upTo: call.maxAnswerBytes, within: left)
        return PeerAnswer(status: status, headers: headers, body: .bytes(bytes))
    }

    /// The peer's answer head within `budget`; the body that follows has no deadline of its own.
    private static func head(of request: HTTPClientRequest, on client: HTTPClient, within budget: Duration)
        async throws -> HTTPClientResponse
    {
        try await withThrowingTaskGroup(of: HTTPClientResponse?.self) { group in
            group.addTask { try await client.execute(request, deadline: .distantFuture) }
            group.addTask {
                try await Task.sleep(for: budget)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let response = first else { throw PeerCallFailure.timedOut }
            return response
        }
    }

    private static func collect(_ body: HTTPClientResponse.Body, upTo limit: Int, within budget: Duration)
        async throws(PeerCallFailure) -> [UInt8]
    {
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask {
                    let buffer = try await body.collect(upTo: limit)
                    return Array(buffer.readableBytesView)
                }
                group.addTask {
                    try await Task.sleep(for: max(budget, .zero))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let bytes = first else { throw PeerCallFailure.timedOut }
                return bytes
            }
        } catch let f as PeerCallFailure {
            throw f
        } catch is NIOTooManyBytesError {
            throw .tooLarge(limit: limit)
        } catch {
            throw failure(error)
        }
    }

    static func failure(_ error: any Error) -> PeerCallFailure {
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .connectTimeout, .readTimeout, .getConnectionFromPoolTimeout, .tlsHandshakeTimeout:
                return .timedOut
            default: return .unreachable(describe(e))
            }
        }
        if let f = error as? PeerCallFailure { return f }
        if error is CancellationError { return .timedOut }
        return .unreachable(describe(error))
    }

    /// NIO's errors print type names; a person wants the cause (connection refused, certificate rejected).
    private static func describe(_ error: any Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("handshakeFailed") || text.contains("certificate") || text.contains("CERTIFICATE") {
            return "TLS handshake failed (certificate not trusted; see --peer-ca): \(text)"
        }
        if text.contains("remoteConnectionClosed") { return "the peer closed the connection" }
        return text
    }
}

/// The body of a HEAD answer: never read, since a HEAD response has none.
private struct NoBody: ResponseStream {
    func next() async -> [UInt8]? { nil }
    func cancel() {}
}
