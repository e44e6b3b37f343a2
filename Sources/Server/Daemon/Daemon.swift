// Daemon: puts the pieces together (state, kernel, inventory, API, HTTP server) and runs until a signal.
import Engine
import Foundation
import Logging

struct Daemon {
    let settings: DaemonSettings
    var logger = Logger(label: "dmflt.daemon")

    func run() async throws {
        try StateDirectory.prepare(settings.stateDir)
        let lock = try StateDirectory.lockExclusively(settings.stateDir)
        defer { close(lock) }
        let store = try AttachmentStore(directory: settings.stateDir)
        let control = DMFilterControl()
        let service = AttachmentService(
            store: store, control: control, devices: InventoryDeviceDirectory(inventory: DeviceInventory()),
            catalog: EngineFilterCatalog(catalog: .standard))
        let probe = KernelHostProbe(control: control)
        let facts = probe.probe()
        if facts.filterIoctl {
            logger.info("filter IOCTL present; types: \(facts.filterTypes.map(\.name).joined(separator: ", "))")
        } else {
            logger.warning("no filter IOCTL on this kernel: \(facts.reason ?? "unknown"); serving anyway")
        }
        // Converge before the first request so a restart answers with the kernel's real state.
        await service.reconcileAll()

        var router = Router()
        let scheme = settings.tls == nil ? "http" : "https"
        DaemonAPI(
            hostName: settings.hostName, version: DaemonVersion.string, url: "\(scheme)://\(settings.listen)",
            service: service, probe: probe
        ).register(into: &router)
        let app = HTTPApplication(
            router: router,
            middlewares: [RequestLogging(), ErrorMapping(), BearerAuthentication(tokens: settings.tokens)])
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(listen: settings.listen, tls: settings.tls), application: app)
        try server.start()
        logger.info(
            "dmfltd \(DaemonVersion.string) serving \(settings.hostName) on \(scheme)://\(settings.listen.host):\(server.port), state in \(settings.stateDir)"
        )
        let reconciler = Task { await Reconciler(service: service).run() }
        await server.waitForShutdownSignal()
        reconciler.cancel()
        await server.stop()
        _ = await reconciler.value
    }
}
