// StoreHost: what preparing a filter's store needs from the host: what a path is, files, and loop devices over them.
import Engine
import Foundation

/// What a store path names now.
enum StorePathKind: Sendable, Equatable {
    case blockDevice(DeviceNumber)
    /// `device`: the device of the filesystem the file is on.
    case regularFile(size: UInt64, allocated: UInt64, device: DeviceNumber)
    /// Nothing there; `parentDevice` is the device of the directory it would be made in (nil: no such directory).
    case absent(parentDevice: DeviceNumber?)
    case other(String)
}

/// A loop device the daemon set up over a store file; the descriptor keeps it bound until the
/// kernel filter holds it (it auto-clears when the last opener closes it).
struct LoopHandle: Sendable, Equatable {
    var dev: DeviceNumber
    var fd: Int32
}

protocol StoreHost: Sendable {
    func kind(of path: String) -> StorePathKind
    /// The whole disk a device belongs to (itself for a whole disk, loop or dm device).
    func wholeDisk(of dev: DeviceNumber) -> DeviceNumber
    /// Makes a new file of `size` bytes (sparse); fails if something exists there.
    func createFile(_ path: String, size: UInt64) throws(StoreHostError)
    func removeFile(_ path: String)
    /// A new loop device over the file, direct IO where the file's filesystem allows it, auto-clearing.
    func attachLoop(file path: String) throws(StoreHostError) -> LoopHandle
    func close(_ handle: LoopHandle)
}

struct StoreHostError: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String
}
