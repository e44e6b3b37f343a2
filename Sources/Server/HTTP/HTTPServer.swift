// HTTPServer: runs a Handler on libmicrohttpd (epoll, one polling thread per core on a shared port, suspend/resume) and stops it gracefully.
import CMicroHTTPD
import CMicroHTTPDShim
import Foundation
import Logging
import Synchronization

/// Usage: `let server = HTTPServer(configuration: c, handler: app.handler)`, `try server.start()`,
/// `await server.waitForShutdownSignal()`, `await server.stop()` (or `try await server.run()`).
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    private let core: HTTPServerCore
    private let logger: Logger

    private struct Running: @unchecked Sendable {
        /// `MHD_Daemon *`s while running: one per thread (see `start`).
        var daemons: [OpaquePointer] = []
        var port: UInt16 = 0
        var stopped = false
        /// What new HTTPS handshakes present (nil for plain HTTP); freed after the daemons stop.
        var certificates: OpaquePointer?
        /// The start configuration, which is also the logger's closure for the daemon's lifetime.
        var config: UnsafeMutablePointer<cmhd_config>?
    }
    private let running = Mutex(Running())

    public init(
        configuration: HTTPServerConfiguration, handler: @escaping Handler,
        immediate: (@Sendable (Request) throws -> Response?)? = nil, logger: Logger = Logger(label: "dmflt.http")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.core = HTTPServerCore(
            handler: handler, immediate: immediate, maxBodyBytes: configuration.maxBodyBytes, logger: logger)
    }

    public convenience init(
        configuration: HTTPServerConfiguration, application: HTTPApplication,
        logger: Logger = Logger(label: "dmflt.http")
    ) {
        self.init(
            configuration: configuration, handler: application.handler, immediate: application.immediateHandler,
            logger: logger)
    }

    /// Whether this libmicrohttpd can serve TLS (Debian's is built with GnuTLS).
    public static var tlsSupported: Bool { cmhd_tls_supported() != 0 }
    /// The GnuTLS priority string of every HTTPS listener: TLS 1.2 and 1.3 only.
    public static var tlsPriorities: String { String(cString: cmhd_tls_priority_string()) }

    /// The port actually bound (the configured one, or the kernel's pick for port 0); 0 before start.
    public var port: UInt16 { running.withLock { $0.port } }

    /// Requests begun since start.
    public var requestsStarted: Int { core.started.load(ordering: .relaxed) }

    /// Binds and starts serving; throws with libmicrohttpd's reason (address in use, bad TLS key...).
    public func start() throws {
        guard cmhd_shim_version_ok() != 0 else { throw HTTPServerError.start("libmicrohttpd older than 0.9.75") }
        try running.withLock { r in
            guard r.daemons.isEmpty, !r.stopped else { throw HTTPServerError.alreadyStarted }
            // A peer that vanished mid-write must be an error return, never a process kill.
            signal(SIGPIPE, SIG_IGN)

            var flags =
                MHD_USE_EPOLL.rawValue | MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
                | MHD_USE_ERROR_LOG.rawValue
            if configuration.listen.family == .ipv6 { flags |= MHD_USE_IPv6.rawValue }
            var slot: OpaquePointer?
            if let tls = configuration.tls {
                guard cmhd_tls_supported() != 0 else {
                    throw HTTPServerError.tls(
                        "this libmicrohttpd was built without TLS (GnuTLS) support; cannot serve --tls-cert/--tls-key")
                }
                flags |= MHD_USE_TLS.rawValue
                let certificate: ServerCertificate
                do {
                    certificate = try ServerCertificate(tls)
                } catch {
                    throw HTTPServerError.tls("cannot serve HTTPS on \(configuration.listen): \(error)")
                }
                guard let made = cmhd_certificate_slot_new(certificate.pointer) else {
                    throw HTTPServerError.tls("cannot serve HTTPS on \(configuration.listen): out of memory")
                }
                slot = made
            }
            let coreRef = Unmanaged.passRetained(core)
            let config = UnsafeMutablePointer<cmhd_config>.allocate(capacity: 1)
            config.initialize(to: cmhd_config())
            // One libmicrohttpd daemon (one polling thread) per thread of the pool, all listening on the
            // address with SO_REUSEPORT: the kernel spreads new connections over their sockets. With
            // libmicrohttpd's own thread pool, whichever worker woke first accepted a whole burst of
            // connections, and a keep-alive client's 32 connections often all landed on one thread
            // while the other core idled (GET /v1/host: 73k vs 97k req/s from run to run).
            let count = max(1, configuration.threadPoolSize)
            var listen = configuration.listen
            /// Gives back what start allocated and says why it could not serve.
            func fail(_ why: String) -> HTTPServerError {
                config.deallocate()
                cmhd_certificate_slot_free(slot)
                return configuration.tls == nil
                    ? HTTPServerError.start("cannot serve HTTP on \(configuration.listen): \(why)")
                    : HTTPServerError.tls("cannot serve HTTPS on \(configuration.listen): \(why)")
            }
            if count > 1, listen.port != 0 {
                let busy = listen.withSockaddr { cmhd_address_free($0) }
                if busy != 0 { throw fail(String(cString: strerror(busy))) }
            }
            var daemons: [OpaquePointer] = []
            for index in 0..<count {
                let daemon: OpaquePointer? = listen.withSockaddr { address in
                    var c = cmhd_config()
                    c.flags = flags
                    c.address = address
                    c.thread_pool_size = 1
                    // libmicrohttpd's pool splits the connection limit per worker the same way.
                    c.connection_limit = UInt32((configuration.connectionLimit + count - 1) / count)
                    c.per_ip_connection_limit = UInt32((configuration.perIPConnectionLimit + count - 1) / count)
                    c.connection_timeout_seconds = UInt32(configuration.connectionTimeoutSeconds)
                    c.connection_memory_limit = configuration.connectionMemoryLimit
                    c.listen_backlog = 1024
                    c.reuse_port = count > 1 ? 1 : 0
                    c.tls_certificates = slot
                    c.access_handler = MicroHTTPDCallbacks.accessHandler
                    c.access_handler_cls = coreRef.toOpaque()
                    c.completed = MicroHTTPDCallbacks.requestCompleted
                    c.completed_cls = coreRef.toOpaque()
                    c.log = MicroHTTPDCallbacks.log
                    c.log_cls = coreRef.toOpaque()
                    config.pointee = c
                    return cmhd_start(config)
                }
                guard let daemon else {
                    for started in daemons { MHD_stop_daemon(started) }
                    // The core stays retained: libmicrohttpd may have logged through it; a failed start is rare.
                    throw fail(core.lastMessage ?? "unknown reason")
                }
                daemons.append(daemon)
                // Port 0: the others join the port the first one was given.
                if index == 0 { listen.port = cmhd_bound_port(daemon) }
            }
            r.daemons = daemons
            r.port = listen.port
            r.certificates = slot
            r.config = config
            // libmicrohttpd copied the address during start; only the logger fields are read later.
            config.pointee.address = nil
        }
        logger.info(
            "listening on \(configuration.tls == nil ? "http" : "https")://\(configuration.listen.family == .ipv6 ? "[\(configuration.listen.host)]" : configuration.listen.host):\(port) with \(configuration.threadPoolSize) threads"
        )
    }

    /// Makes new HTTPS handshakes present `certificate`; connections already open keep the one they
    /// were given. Throws when this server does not serve HTTPS or is not running.
    public func replaceCertificate(_ certificate: ServerCertificate) throws {
        try running.withLock { r in
            guard let slot = r.certificates, !r.stopped else {
                throw HTTPServerError.tls("this server is not serving HTTPS; there is no certificate to replace")
            }
            cmhd_certificate_slot_replace(slot, certificate.pointer)
        }
    }

    /// Stops accepting, lets requests in flight finish (up to `shutdownGraceSeconds`), ends every
    /// stream, resumes every suspended connection, then stops libmicrohttpd. Safe to call twice.
    public func stop() async {
        let daemons = running.withLock { r -> [OpaquePointer] in
            defer { r.stopped = true }
            return r.stopped ? [] : r.daemons
        }
        guard !daemons.isEmpty else { return }
        let started = ContinuousClock.now
        let grace = Duration.milliseconds(Int64(configuration.shutdownGraceSeconds * 1000))
        core.draining.store(true, ordering: .releasing)
        for daemon in daemons {
            let listenSocket = MHD_quiesce_daemon(daemon)
            if listenSocket >= 0 { close(listenSocket) }
        }
        logger.info("stopping: no new connections; \(core.plainRequestsInFlight) request(s) in flight")

        while core.plainRequestsInFlight > 0, ContinuousClock.now - started < grace {
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Streams: ask each producer to end (it may send a final event), then end what is left.
        let streams = core.liveRequests.compactMap(\.delivery)
        for s in streams { s.cancelOnce() }
        let streamDeadline = min(ContinuousClock.now + .seconds(1), started + grace + .seconds(1))
        while streams.contains(where: { !$0.hasEnded }), ContinuousClock.now < streamDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        core.closing.store(true, ordering: .releasing)
        for s in streams { s.forceEnd() }
        let leftover = core.liveRequests
        for request in leftover {
            request.delivery?.forceEnd()
            request.abandonForShutdown()
        }
        // Let the final chunks and 503s leave before the sockets are closed.
        let flushDeadline = ContinuousClock.now + .milliseconds(500)
        while core.requestsInFlight > 0, ContinuousClock.now < flushDeadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if core.plainRequestsInFlight > 0 {
            logger.warning("stopping: \(core.plainRequestsInFlight) request(s) did not finish within the grace period")
        }
        // A request whose stream or answer arrived during the sweep above: end and resume it too, so
        // libmicrohttpd is never stopped with a suspended connection (it aborts the process then).
        for request in core.liveRequests {
            request.delivery?.forceEnd()
            request.abandonForShutdown()
        }
        for daemon in daemons { MHD_stop_daemon(daemon) }
        running.withLock { r in
            r.daemons = []
            // Every connection is closed now, so only the slot still holds the current certificate.
            cmhd_certificate_slot_free(r.certificates)
            r.certificates = nil
            r.config?.deallocate()
            r.config = nil
        }
        Unmanaged.passUnretained(core).release()
        logger.info("stopped")
    }

    /// Returns when SIGTERM or SIGINT arrives (see `SignalHandling`); `installed` runs once a signal
    /// would be caught.
    public func waitForShutdownSignal(installed: () -> Void = {}) async {
        let signal = await SignalHandling.waitForTermination(installed: installed)
        logger.info("received \(signal == SIGTERM ? "SIGTERM" : signal == SIGINT ? "SIGINT" : "signal \(signal)")")
    }

    /// start(), serve until SIGTERM/SIGINT, stop().
    public func run() async throws {
        try start()
        await waitForShutdownSignal()
        await stop()
    }
}
