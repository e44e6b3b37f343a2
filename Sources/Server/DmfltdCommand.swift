// DmfltdCommand: the `dmfltd` command line (placeholder until the daemon lands; replaced by the server work).
import ArgumentParser

struct DmfltdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dmfltd", abstract: "The dmflt REST daemon.")
}
