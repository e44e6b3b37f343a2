// FakeStoreHost: a StoreHost in memory: paths of given kinds, files made and removed, loop devices handed out.
import Engine
import Foundation
import Synchronization

@testable import dmfltd

final class FakeStoreHost: StoreHost {
    private struct State {
        var paths: [String: StorePathKind] = [:]
        var created: [String: UInt64] = [:]
        var removed: [String] = []
        var loops: [LoopHandle] = []
        var closed: [LoopHandle] = []
        var failLoop = false
    }
    private let state = Mutex(State())
    /// Partitions and their whole disks.
    let disks: [DeviceNumber: DeviceNumber]
    /// The device of the filesystem every absent path's directory is on.
    let directoryDevice: DeviceNumber

    init(disks: [DeviceNumber: DeviceNumber] = [:], directoryDevice: DeviceNumber = DeviceNumber(major: 8, minor: 16)) {
        self.disks = disks
        self.directoryDevice = directoryDevice
    }

    func set(_ path: String, _ kind: StorePathKind) { state.withLock { $0.paths[path] = kind } }
    var created: [String: UInt64] { state.withLock { $0.created } }
    var removed: [String] { state.withLock { $0.removed } }
    var loops: [LoopHandle] { state.withLock { $0.loops } }
    var closed: [LoopHandle] { state.withLock { $0.closed } }
    var failLoop: Bool {
        get { state.withLock { $0.failLoop } }
        set { state.withLock { $0.failLoop = newValue } }
    }

    func kind(of path: String) -> StorePathKind {
        state.withLock { s in
            if let size = s.created[path] { return .regularFile(size: size, allocated: 0, device: directoryDevice) }
            return s.paths[path] ?? .absent(parentDevice: directoryDevice)
        }
    }

    func wholeDisk(of dev: DeviceNumber) -> DeviceNumber { disks[dev] ?? dev }

    func createFile(_ path: String, size: UInt64) throws(StoreHostError) {
        try state.withLock { s throws(StoreHostError) in
            guard s.created[path] == nil, s.paths[path] == nil else { throw StoreHostError(description: "exists") }
            s.created[path] = size
        }
    }

    func removeFile(_ path: String) {
        state.withLock { s in
            s.created[path] = nil
            s.removed.append(path)
        }
    }

    func attachLoop(file path: String) throws(StoreHostError) -> LoopHandle {
        try state.withLock { s throws(StoreHostError) in
            if s.failLoop { throw StoreHostError(description: "no free loop device") }
            let handle = LoopHandle(
                dev: DeviceNumber(major: 7, minor: UInt32(100 + s.loops.count)), fd: Int32(s.loops.count))
            s.loops.append(handle)
            return handle
        }
    }

    func close(_ handle: LoopHandle) { state.withLock { $0.closed.append(handle) } }
}
