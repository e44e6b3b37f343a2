// Daemon: puts the pieces together (state, kernel, inventory, API, stats, peers, HTTP server), tells systemd, and runs until a signal.
import Engine
import Foundation
import Logging
import Prometheus

struct Daemon {
    let settings: DaemonSettings
    var logger = Logger(label: "dmflt.daemon")

    func run() async throws {
        try StateDirectory.prepare(settings.stateDir)
        let lock = try StateDirectory.lockExclusively(settings.stateDir)
        defer { close(lock) }
        let store = try AttachmentStore(directory: settings.stateDir)
        // One counted control for the whole daemon, so /metrics sees every IOCTL.
        let registry = PrometheusCollectorRegistry()
        let control = CountingFilterControl(DMFilterControl(), registry: registry)
        let stats = StatsServiceBox()
        let devices = InventoryDeviceDirectory(inventory: DeviceInventory())
        let service = AttachmentService(
            store: store, control: control, devices: devices,
            catalog: EngineFilterCatalog(catalog: .standard, devices: devices),
            detached: { id in stats.value?.attachmentDetached(id: id) })
        stats.value = StatsService(
            control: control, directory: AttachmentServiceDirectory(service: service, hostName: settings.hostName),
            hostName: settings.hostName, registry: registry)
        guard let statsService = stats.value else { return }
        let probe = KernelHostProbe(control: control, changes: control.changes)
        let facts = probe.probe()
        if facts.filterIoctl {
            logger.info("filter IOCTL present; types: \(facts.filterTypes.map(\.name).joined(separator: ", "))")
        } else {
            logger.warning("no filter IOCTL on this kernel: \(facts.reason ?? "unknown"); serving anyway")
        }
        // Converge before the first request so a restart answers with the kernel's real state.
        statsService.reconcileRan(errors: await service.reconcileAll())

        let scheme = settings.tls == nil ? "http" : "https"
        let url = "\(scheme)://\(settings.listen)"
        let api = DaemonAPI(
            hostName: settings.hostName, version: DaemonVersion.string, url: url, service: service, probe: probe,
            kernelChanges: control.changes)
        let openCluster = settings.tokens == nil && !settings.insecure
        let cluster = try PeerCluster(
            configuration: settings.peers, selfName: settings.hostName, selfURL: url, stateDirectory: settings.stateDir,
            version: DaemonVersion.string, probe: probe,
            memberRefusal: openCluster
                ? "This host runs without --token-file, so it joins no cluster (start it with a token file, or --insecure)."
                : nil)
        // Members a PUT /v1/hosts stored in an earlier run count like --peer.
        if openCluster && !cluster.directory.peers().isEmpty {
            throw StateDirectory.Failure(description: DaemonSettings.openClusterRefusal)
        }
        var local = Router()
        api.register(into: &local)
        statsService.register(on: &local)
        // GET /v1/hosts is the cluster's (every member, not only this host): the API leaves it out here.
        var router = Router()
        cluster.register(into: &router, localRoutes: local)
        api.register(into: &router, members: false)
        statsService.register(on: &router)
        // Replaced whole by a reload (SIGHUP).
        let tokens = settings.tokens.map(ActiveTokens.init)
        let app = HTTPApplication(
            router: router,
            middlewares: [
                RequestLogging(mode: settings.accessLog), statsService.middleware, ErrorMapping(), cluster.trust,
                BearerAuthentication(tokens: tokens), cluster.forwarder,
            ])
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(listen: settings.listen, tls: settings.tls), application: app)
        try server.start()
        let host = settings.listen.family == .ipv6 ? "[\(settings.listen.host)]" : settings.listen.host
        let bound = "\(scheme)://\(host):\(server.port)"
        logger.info(
            "dmfltd \(DaemonVersion.string) serving \(settings.hostName) on \(bound), state in \(settings.stateDir)")
        let notifier = ServiceNotifier(environment: ProcessInfo.processInfo.environment)
        let reload = CredentialReload(
            tokenFile: settings.tokenFile, tlsFiles: settings.tlsFiles, tokens: tokens,
            installCertificate: { try server.replaceCertificate($0) })
        // Caught from here on, before READY=1 tells systemd a reload may be asked for.
        let hangups = SignalHandling.hangups()
        let reloads = Task { [logger] in
            for await _ in hangups {
                notifier.send(.reloading(status: "reloading the token file and the TLS certificate"))
                let status: String
                do {
                    let what = try reload.reload()
                    logger.info("reloaded \(what)")
                    status = "serving \(bound); reloaded \(what)"
                } catch {
                    logger.error("reload failed; the tokens and the certificate in use stay: \(error)")
                    status = "serving \(bound); the last reload failed: \(error)"
                }
                notifier.send(.ready(status: status))
            }
        }
        let health = cluster.startHealthChecks()
        let reconciler = Task {
            await Reconciler(service: service, passed: { statsService.reconcileRan(errors: $0) }).run()
        }
        let trim = Task { await IdleMemoryTrim(activity: { server.requestsStarted }).run() }
        // The port is bound and the first reconcile pass is done (before the server started): ready,
        // once SIGTERM would be caught and not kill the process.
        await server.waitForShutdownSignal(installed: { notifier.send(.ready(status: "serving \(bound)")) })
        notifier.send(.stopping(status: "stopping: finishing requests in flight"))
        reloads.cancel()
        trim.cancel()
        reconciler.cancel()
        health.cancel()
        await statsService.shutdown()
        await server.stop()
        _ = await reconciler.value
        await cluster.shutdown()
    }
}

/// The statistics service, set once after the attachment service it observes exists.
private final class StatsServiceBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: StatsService?

    var value: StatsService? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
