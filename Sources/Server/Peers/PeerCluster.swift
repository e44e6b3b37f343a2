// PeerCluster: builds the peers layer from the command line's PeerConfiguration; the one thing `serve` wires in.
import Foundation

/// Wiring in `serve` (Daemon.swift):
///   let cluster = try PeerCluster(configuration: peerConfig, selfName: hostName, selfURL: url,
///                                 stateDirectory: stateDir, version: version, probe: probe)
///   var local = Router(); api.register(into: &local)
///   var router = Router(); cluster.register(into: &router, localRoutes: local)
///   api.register(into: &router, members: false)   // GET /v1/hosts is the cluster's
///   middlewares: [..., ErrorMapping, cluster.trust, <token auth>, cluster.forwarder]
///   let health = cluster.startHealthChecks(); ... on shutdown: health.cancel(); await cluster.shutdown()
final class PeerCluster: Sendable {
    let configuration: PeerConfiguration
    let directory: PeerDirectory
    let transport: any PeerTransport
    private let version: String
    private let probe: any HostProbe
    private let ownedClient: HTTPClientPeerTransport?
    /// One for the daemon's life: every signed call this host accepted within the window.
    private let nonces = NonceLedger()

    /// Why PUT /v1/hosts/{name} is refused on this host (an open daemon without --insecure); nil: accepted.
    let memberRefusal: String?

    /// `stateDirectory` nil keeps the member list in memory (tests).
    convenience init(
        configuration: PeerConfiguration, selfName: String, selfURL: String?, stateDirectory: String?, version: String,
        probe: any HostProbe, memberRefusal: String? = nil
    ) throws {
        let storage: any PeerStorage =
            try stateDirectory.map { try SQLitePeerStorage(directory: $0) } ?? InMemoryPeerStorage()
        let client = HTTPClientPeerTransport(
            caFile: configuration.caFile, connectTimeoutSeconds: configuration.timeoutSeconds)
        try self.init(
            configuration: configuration, selfName: selfName, selfURL: selfURL, storage: storage, transport: client,
            version: version, probe: probe, ownedClient: client, memberRefusal: memberRefusal)
    }

    init(
        configuration: PeerConfiguration, selfName: String, selfURL: String?, storage: any PeerStorage,
        transport: any PeerTransport, version: String, probe: any HostProbe,
        ownedClient: HTTPClientPeerTransport? = nil,
        memberRefusal: String? = nil
    ) throws {
        self.memberRefusal = memberRefusal
        self.configuration = configuration
        self.directory = try PeerDirectory(
            selfName: selfName, selfURL: selfURL, storage: storage, seeds: configuration.seeds)
        self.transport = transport
        self.version = version
        self.probe = probe
        self.ownedClient = ownedClient
    }

    /// Goes right before the token auth middleware.
    var trust: PeerTrust {
        PeerTrust(
            authenticator: PeerAuthenticator(
                clusterToken: configuration.clusterToken, selfName: directory.selfName, ledger: nonces))
    }

    /// Goes right after the token auth middleware.
    var forwarder: PeerForwarder {
        PeerForwarder(
            directory: directory, transport: transport, clusterToken: configuration.clusterToken,
            timeoutSeconds: configuration.forwardTimeoutSeconds)
    }

    var healthChecker: PeerHealthChecker {
        PeerHealthChecker(
            directory: directory, transport: transport, clusterToken: configuration.clusterToken,
            timeoutSeconds: configuration.timeoutSeconds, intervalSeconds: configuration.healthIntervalSeconds)
    }

    /// `localRoutes`: a router with this host's own routes (DaemonAPI), used to answer the local member in-process.
    func register(into router: inout Router, localRoutes: Router) {
        let fanOut = PeerFanOut(
            directory: directory, transport: transport, clusterToken: configuration.clusterToken,
            timeoutSeconds: configuration.timeoutSeconds, parallelism: configuration.fanOutParallelism,
            localRoutes: localRoutes)
        PeerRoutes(
            directory: directory, fanOut: fanOut, checker: healthChecker, version: version, probe: probe,
            memberRefusal: memberRefusal
        ).register(into: &router)
    }

    func startHealthChecks() -> Task<Void, Never> {
        let checker = healthChecker
        return Task { await checker.run() }
    }

    func shutdown() async { await ownedClient?.shutdown() }
}
