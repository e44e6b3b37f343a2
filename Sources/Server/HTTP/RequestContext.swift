// RequestContext: one request's state while libmicrohttpd serves it (body so far, handler outcome, suspension).
import CMicroHTTPD
import CMicroHTTPDShim
import Foundation
import Synchronization

/// Lives in the connection's `con_cls` from the first access-handler call to the completion
/// callback, so nothing about a request is kept per thread. A handler that may suspend runs as a
/// Swift task; the connection is suspended (holding no pool thread) until the task hands its
/// response back.
final class RequestContext: Sendable {
    /// `MHD_Connection *`; valid until `finish`, which libmicrohttpd calls before freeing it.
    nonisolated(unsafe) let connection: OpaquePointer
    let core: HTTPServerCore

    enum Phase: Sendable {
        case receiving
        /// The handler runs (or ran); the response is queued on the next access-handler call.
        case handling
        case responded
        /// The body grew past the limit mid-upload.
        case rejected
    }

    /// Only this connection's libmicrohttpd callbacks touch it, never two at once: the lock is uncontended.
    private struct Owned {
        var phase = Phase.receiving
        var body: [UInt8] = []
        /// Known to the core's list of requests a stop must resume or end.
        var tracked = false
    }
    private let owned = Mutex(Owned())

    private struct Shared {
        var suspended = false
        var pending: Response?
        var finished = false
        var delivery: StreamDelivery?
    }
    private let shared = Mutex(Shared())

    init(connection: OpaquePointer, core: HTTPServerCore) {
        self.connection = connection
        self.core = core
    }

    var phase: Phase {
        get { owned.withLock { $0.phase } }
        set { owned.withLock { $0.phase = newValue } }
    }

    /// Appends upload data; false once the body would exceed the limit.
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        owned.withLock {
            guard $0.body.count + bytes.count <= core.maxBodyBytes else {
                $0.phase = .rejected
                return false
            }
            $0.body.append(contentsOf: bytes)
            return true
        }
    }

    func takeBody() -> [UInt8] {
        owned.withLock {
            let b = $0.body
            $0.body = []
            return b
        }
    }

    /// Runs the handler; returns the response when it finished without suspending, else nil after
    /// suspending the connection (it is resumed by `deliver`). A route that never suspends is served
    /// right here; a task costs about as much as answering GET /v1/host from its cache.
    func dispatch(_ request: Request) -> Response? {
        let core = self.core
        if let response = core.respondImmediately(to: request) { return response }
        track()
        _ = Task.immediate { [self] in
            deliver(await core.respond(to: request))
        }
        return takeResponseOrSuspend()
    }

    /// Called on the connection's thread: the response if one is ready, otherwise the connection is
    /// suspended. Holding our lock across MHD_suspend_connection orders it before any resume.
    func takeResponseOrSuspend() -> Response? {
        shared.withLock { s in
            if let r = s.pending {
                s.pending = nil
                return r
            }
            if core.closing.load(ordering: .acquiring) {
                return Problem.serviceUnavailable().response()
            }
            s.suspended = true
            MHD_suspend_connection(connection)
            return nil
        }
    }

    /// The handler's answer, from whatever thread the task ended on.
    func deliver(_ response: Response) {
        let dropped: Response? = shared.withLock { s in
            if s.finished || s.pending != nil { return response }
            s.pending = response
            if s.suspended {
                s.suspended = false
                MHD_resume_connection(connection)
            }
            return nil
        }
        dropped?.stream?.cancel()
    }

    /// Shutdown after the grace period: a handler still running loses its client to a 503.
    func abandonForShutdown() {
        shared.withLock { s in
            guard s.suspended, !s.finished else { return }
            s.pending = Problem.serviceUnavailable().response()
            s.suspended = false
            MHD_resume_connection(connection)
        }
    }

    /// From here on a stop finds this request (to resume it or end its stream).
    private func track() {
        let first = owned.withLock { o in
            defer { o.tracked = true }
            return !o.tracked
        }
        if first { core.track(self) }
    }

    func attach(_ delivery: StreamDelivery) {
        track()
        shared.withLock { $0.delivery = delivery }
        core.becameStream(self)
    }

    var delivery: StreamDelivery? { shared.withLock { $0.delivery } }

    /// libmicrohttpd is done with the request (sent, failed, client gone or daemon stopping).
    func finish(completedNormally: Bool) {
        let (delivery, unsent) = shared.withLock { s -> (StreamDelivery?, Response?) in
            s.finished = true
            defer { s.pending = nil }
            return (s.delivery, s.pending)
        }
        unsent?.stream?.cancel()
        delivery?.connectionFinished()
        core.unregister(self, wasStream: delivery != nil, wasTracked: owned.withLock { $0.tracked })
    }
}

extension Problem {
    static func serviceUnavailable() -> Problem {
        Problem(
            "shutting-down", status: 503, title: "Shutting down", detail: "The daemon is stopping; retry later.",
            headers: ["Connection": "close", "Retry-After": "5"])
    }
}
