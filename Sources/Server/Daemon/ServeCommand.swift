// ServeCommand: `dmfltd serve`: its options, their checks, then the daemon until SIGTERM/SIGINT.
import ArgumentParser
import Foundation
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the REST API and keep the kernel's filters as the state directory wants them.")

    @Option(help: "Address and port to listen on: A.B.C.D:PORT or [IPv6]:PORT.")
    var listen = "127.0.0.1:7450"

    @Option(help: "Directory for the desired-state database (created with mode 0700).")
    var stateDir = "/var/lib/dmflt"

    @Option(help: "This host's name in the API (default: uname -n).")
    var hostName: String?

    @Option(
        help:
            "File of 'ROLE TOKEN' lines (role reader or operator); without it every caller is an operator, and peers need --insecure."
    )
    var tokenFile: String?

    @Option(name: .customLong("peer"), help: "A peer as NAME=URL (repeatable).")
    var peers: [String] = []

    @Option(
        help:
            "File whose first line is the cluster's secret; hosts sign their calls to each other with it, never send it."
    )
    var peerTokenFile: String?

    @Option(help: "PEM file of the CA that signs the peers' certificates (default: the system's trust store).")
    var peerCa: String?

    @Option(help: "Seconds a peer gets to answer a listing or a health check (default 2).")
    var peerTimeout: Double?

    @Option(help: "PEM certificate for HTTPS (with --tls-key).")
    var tlsCert: String?

    @Option(help: "PEM private key for HTTPS (with --tls-cert).")
    var tlsKey: String?

    @Option(
        help: ArgumentHelp(
            "Which requests leave an access line: all, mutations (any method but GET, HEAD and OPTIONS) or none (no access line). Every mutation leaves an audit line in every mode.",
            valueName: "all|mutations|none"))
    var accessLog = "all"

    @Flag(
        help:
            "Allow a non-loopback address or peers without a token file (anyone who can connect may attach and detach, on every host)."
    )
    var insecure = false

    func run() async throws {
        let settings: DaemonSettings
        do {
            settings = try DaemonSettings(
                listen: listen, stateDir: stateDir, hostName: hostName ?? DaemonSettings.systemHostName(),
                tokenFile: tokenFile, peers: peers, tlsCert: tlsCert, tlsKey: tlsKey, insecure: insecure,
                peerTokenFile: peerTokenFile, peerCA: peerCa, peerTimeout: peerTimeout, accessLog: accessLog)
        } catch let error as DaemonSettings.Invalid {
            throw ValidationError(error.description)
        }
        let journal = JournalStream.isJournal(
            STDERR_FILENO, environment: ProcessInfo.processInfo.environment["JOURNAL_STREAM"])
        LoggingSystem.bootstrap { DaemonLogHandler(label: $0, syslogPrefix: journal) }
        do {
            try await Daemon(settings: settings).run()
        } catch {
            LogWriter.standardError.flush()
            let priority = journal ? Logger.Level.error.syslogPrefix : ""
            FileHandle.standardError.write(Data("\(priority)dmfltd: \(LogText.escaped("\(error)"))\n".utf8))
            throw Self.exitCode(for: error)
        }
    }

    /// EX_CONFIG (78) for a state directory or database only an operator can fix, which the systemd unit
    /// does not restart (RestartPreventExitStatus): starting again at once would fail the same way.
    static func exitCode(for error: any Error) -> ExitCode {
        error is StateDatabaseFailure || error is StateDirectory.Failure ? ExitCode(78) : .failure
    }
}
