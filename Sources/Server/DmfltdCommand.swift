// DmfltdCommand: the `dmfltd` command line: `serve` runs the daemon, `version` prints its version.
import ArgumentParser

struct DmfltdCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dmfltd", abstract: "The dmflt REST daemon: attach device filters to this host's block devices.",
        version: DaemonVersion.string, subcommands: [ServeCommand.self, VersionCommand.self])

    /// Parses and runs; called from main.swift, where `main()` would resolve to the synchronous
    /// entry point that refuses async subcommands.
    static func parseAndRun() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
