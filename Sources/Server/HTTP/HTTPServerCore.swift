// HTTPServerCore: the state libmicrohttpd's callbacks reach through their closure pointer (handler, limits, live requests).
import CMicroHTTPD
import Foundation
import Logging
import Synchronization

final class HTTPServerCore: Sendable {
    let handler: Handler
    /// Answers without a task when it can (nil: run `handler` as a task).
    let immediate: (@Sendable (Request) throws -> Response?)?
    let maxBodyBytes: Int
    let logger: Logger

    /// Set by `stop()`: every response from now on asks the client to close the connection.
    let draining = Atomic<Bool>(false)
    /// Set when the grace period is over: requests are answered 503 at once, nothing is suspended any more.
    let closing = Atomic<Bool>(false)

    /// Requests that may be suspended or stream, which a stop must resume or end. A request answered
    /// in its access-handler call is never suspended, so it is only counted: no lock the pool threads
    /// would take for every request.
    private let live = Mutex<[ObjectIdentifier: RequestContext]>([:])
    /// Requests from their first access-handler call to their completion.
    private let inFlight = Atomic<Int>(0)
    /// Of those, the ones that are not (yet) streams: what a graceful stop waits for.
    private let plainInFlight = Atomic<Int>(0)
    /// Requests begun since start (for idle detection).
    let started = Atomic<Int>(0)
    /// libmicrohttpd's last few diagnostics, so a failed start can say why (the cause comes before the summary).
    private let recentLibraryMessages = Mutex<[String]>([])

    init(
        handler: @escaping Handler, immediate: (@Sendable (Request) throws -> Response?)?, maxBodyBytes: Int,
        logger: Logger
    ) {
        self.handler = handler
        self.immediate = immediate
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    func register(_ context: RequestContext) {
        started.add(1, ordering: .relaxed)
        inFlight.add(1, ordering: .relaxed)
        plainInFlight.add(1, ordering: .relaxed)
    }

    /// Called before a request may suspend or become a stream (on its connection's thread): a stop
    /// from then on finds it. One that is tracked after a stop looked finds `closing` set already.
    func track(_ context: RequestContext) {
        live.withLock { $0[ObjectIdentifier(context)] = context }
    }

    func becameStream(_ context: RequestContext) {
        plainInFlight.subtract(1, ordering: .relaxed)
    }

    func unregister(_ context: RequestContext, wasStream: Bool, wasTracked: Bool) {
        if wasTracked { live.withLock { $0[ObjectIdentifier(context)] = nil } }
        if !wasStream { plainInFlight.subtract(1, ordering: .relaxed) }
        inFlight.subtract(1, ordering: .relaxed)
    }

    var plainRequestsInFlight: Int { plainInFlight.load(ordering: .relaxed) }
    var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }
    var liveRequests: [RequestContext] { live.withLock { Array($0.values) } }

    func noteLibraryMessage(_ text: String) {
        recentLibraryMessages.withLock {
            $0.append(text)
            if $0.count > 3 { $0.removeFirst() }
        }
        logger.info("libmicrohttpd: \(text)")
    }

    var lastMessage: String? {
        recentLibraryMessages.withLock { $0.isEmpty ? nil : $0.joined(separator: " ") }
    }

    /// The last line of defence: a handler error that escaped every middleware is still an answer.
    func respond(to request: Request) async -> Response {
        do {
            return try await handler(request)
        } catch {
            return escaped(error)
        }
    }

    /// The answer when it can be made without a task, else nil.
    func respondImmediately(to request: Request) -> Response? {
        guard let immediate else { return nil }
        do {
            return try immediate(request)
        } catch {
            return escaped(error)
        }
    }

    private func escaped(_ error: any Error) -> Response {
        if let error = error as? any ProblemConvertible { return error.problem.response() }
        logger.error("unhandled error escaped the middleware chain: \(String(reflecting: error))")
        return Problem.internalError("An internal error occurred; it has been logged.").response()
    }
}
