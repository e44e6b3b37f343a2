// StateDirectory: creates --state-dir private to root and makes sure only one dmfltd uses it at a time.
import Foundation

enum StateDirectory {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Creates the directory (and parents) with mode 0700; an existing one keeps its mode.
    static func prepare(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw Failure(description: "--state-dir \(path) is not a directory") }
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw Failure(description: "cannot create --state-dir \(path): \(error.localizedDescription)")
        }
    }

    /// Two daemons on one database would fight over the kernel; the lock dies with the process (kill -9 too).
    static func lockExclusively(_ path: String) throws -> Int32 {
        let fd = open(path + "/dmfltd.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Failure(description: "cannot open \(path)/dmfltd.lock: \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw Failure(description: "another dmfltd is using --state-dir \(path)")
        }
        return fd
    }
}
