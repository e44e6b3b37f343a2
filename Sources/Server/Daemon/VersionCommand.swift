// VersionCommand: `dmfltd version` prints the daemon's version and exits.
import ArgumentParser

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print dmfltd's version.")

    func run() {
        print("dmfltd \(DaemonVersion.string)")
    }
}
