// LibDeviceMapper: the one gate into libdevmapper — it keeps global state, so every call is serialised here.
import CDeviceMapper
import CDeviceMapperShim
import Foundation
import Synchronization

/// Serialises every libdevmapper call in the process and captures its log messages.
enum LibDeviceMapper {
    private static let lock = Mutex<Bool>(false)

    /// Runs `body` holding the libdevmapper lock, with its error log captured and returned
    /// alongside. libdevmapper's cached control descriptor is released afterwards, so the
    /// daemon never pins dm-mod in memory between calls.
    static func call<T>(_ body: () -> T) -> (value: T, errors: String) {
        lock.withLock { initialised in
            if !initialised {
                cdm_shim_init_logging()
                initialised = true
            }
            cdm_shim_clear_log()
            let value = body()
            let errors = String(cString: cdm_shim_captured_errors())
            dm_lib_release()
            return (value, errors)
        }
    }

    /// The kernel's dm driver version ("4.47.0"), nil when dm-mod does not answer.
    /// Not attempted without dm-mod loaded: libdevmapper would try to `modprobe` it.
    static func driverVersion(procMisc: String = "/proc/misc") -> String? {
        guard ControlDevice.miscMinor(named: "device-mapper", procMisc: procMisc) != nil else { return nil }
        return call { () -> String? in
            var text = [CChar](repeating: 0, count: 64)
            guard dm_driver_version(&text, text.count) != 0 else { return nil }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }.value
    }
}
