// ErrnoMappingTests: each errno the dm filter ABI defines becomes the right error kind and an actionable sentence.
import CDMFilter
import Foundation
import Testing

@testable import Engine

@Suite struct ErrnoMappingTests {
    private func failing(_ code: Int32, driver: (UInt32, UInt32, UInt32)? = nil) -> (DMFilterControl, FakeKernel) {
        let kernel = FakeKernel { _, buffer in
            if let driver { KernelReply.setDriverVersion(buffer, driver) }
            return code
        }
        return (DMFilterControl(transport: kernel), kernel)
    }

    private func attachError(_ code: Int32, driver: (UInt32, UInt32, UInt32)? = nil) -> FilterControlError? {
        let (control, _) = failing(code, driver: driver)
        do {
            try control.attach(device: DeviceNumber(major: 7, minor: 3), filter: "stat", options: "")
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (ENOTTY, FilterControlError.Kind.ioctlUnavailable, "no filter IOCTL"),
        (EACCES, .permissionDenied, "CAP_SYS_ADMIN"),
        (EPERM, .permissionDenied, "CAP_SYS_ADMIN"),
        (EINVAL, .invalid, "refused"),
        (ENODEV, .noSuchDevice, "no block device 7:3"),
        (ENOENT, .noSuchFilterType, "modprobe dm-flt-stat"),
        (EEXIST, .alreadyAttached, "already attached to device 7:3"),
        (ENXIO, .notAttached, "not attached to device 7:3"),
        (EBUSY, .busy, "busy"),
        (ENOMEM, .system, "memory"),
    ])
    func errnoBecomesKindAndSentence(code: Int32, kind: FilterControlError.Kind, phrase: String) throws {
        let error = try #require(attachError(code))
        #expect(error.kind == kind)
        #expect(error.errno == code)
        #expect(error.operation == "attach")
        #expect(error.device == DeviceNumber(major: 7, minor: 3))
        #expect(error.filter == "stat")
        #expect(error.description.contains(phrase), "\(error.description)")
        #expect(error.description.hasPrefix("cannot attach filter 'stat' to device 7:3: "))
        #expect(error.description.hasSuffix("(\(FilterControlError.errnoName(code)))"))
    }

    @Test func enottyNamesTheKernelsDmVersionAndReleasesTheDescriptor() throws {
        let (control, kernel) = failing(ENOTTY, driver: (4, 47, 0))
        #expect {
            _ = try control.listTypes()
        } throws: { error in
            (error as! FilterControlError).description.contains("this kernel's dm-mod has no filter IOCTL (dm 4.47.0)")
        }
        #expect(kernel.reopens == 1)
    }

    @Test func errnoNamesAreSymbolic() {
        #expect(FilterControlError.errnoName(ENOTTY) == "ENOTTY")
        #expect(FilterControlError.errnoName(ENXIO) == "ENXIO")
        #expect(FilterControlError.errnoName(9999) == "errno 9999")
    }
}
