// ReconcilePlanTests: every combination of row phase, kernel state and device presence gets the right action.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct ReconcilePlanTests {
    let dev = DeviceNumber(major: 7, minor: 0)
    let at = Date(timeIntervalSince1970: 1_700_000_000)

    func row(_ phase: AttachmentPhase, error: String? = nil) -> AttachmentRow {
        AttachmentRow(
            id: "a", dev: dev, devicePath: "/dev/loop0", deviceName: "loop0", filter: "stat", options: [:],
            kernelOptions: "", createdAt: at, phase: phase, error: error, attachedAt: nil)
    }

    func plan(_ phase: AttachmentPhase, inKernel: Bool, present: Bool, error: String? = nil) -> [ReconcileAction] {
        let kernel = inKernel ? [KernelAttachment(device: dev, filter: "stat", attachedAt: at)] : []
        return ReconcilePlan.actions(
            rows: [row(phase, error: error)], kernel: .attachments(kernel), presentDevices: present ? [dev] : [])
    }

    @Test(arguments: [AttachmentPhase.pending, .attached, .failed, .waitingDevice])
    func desiredAndMissingIsAttachedWhenTheDeviceIsThere(phase: AttachmentPhase) {
        #expect(plan(phase, inKernel: false, present: true) == [.attach(id: "a")])
    }

    @Test(arguments: [AttachmentPhase.pending, .attached, .failed])
    func desiredWithoutDeviceWaits(phase: AttachmentPhase) {
        #expect(plan(phase, inKernel: false, present: false) == [.markWaiting(id: "a")])
    }

    @Test func alreadyWaitingStaysQuiet() {
        #expect(plan(.waitingDevice, inKernel: false, present: false) == [])
    }

    @Test(arguments: [AttachmentPhase.pending, .failed, .waitingDevice])
    func kernelHasItSoTheRowIsAttached(phase: AttachmentPhase) {
        for present in [true, false] {
            #expect(plan(phase, inKernel: true, present: present) == [.markAttached(id: "a", attachedAt: at)])
        }
    }

    @Test func attachedAndInKernelNeedsNothing() {
        #expect(plan(.attached, inKernel: true, present: true) == [])
    }

    @Test func attachedWithAStaleErrorIsCleared() {
        #expect(
            plan(.attached, inKernel: true, present: true, error: "old") == [.markAttached(id: "a", attachedAt: at)])
    }

    @Test func aDetachInterruptedByACrashIsFinished() {
        #expect(plan(.detaching, inKernel: true, present: true) == [.finishDetach(id: "a")])
        #expect(plan(.detaching, inKernel: false, present: true) == [.forget(id: "a")])
        #expect(plan(.detaching, inKernel: false, present: false) == [.forget(id: "a")])
    }

    @Test func withoutTheIoctlEveryDesiredRowFailsWithTheReason() {
        for phase in [AttachmentPhase.pending, .attached, .waitingDevice] {
            let actions = ReconcilePlan.actions(
                rows: [row(phase)], kernel: .unavailable("ENOTTY"), presentDevices: [dev])
            #expect(actions == [.markFailed(id: "a", reason: "ENOTTY")])
        }
        #expect(
            ReconcilePlan.actions(
                rows: [row(.failed, error: "ENOTTY")], kernel: .unavailable("ENOTTY"), presentDevices: [])
                == [])
        // A listing that failed is no proof the filter is gone: the detaching row waits for a real answer.
        #expect(
            ReconcilePlan.actions(rows: [row(.detaching)], kernel: .unavailable("EMFILE"), presentDevices: [dev])
                == [])
    }

    @Test func otherFiltersAndDevicesDoNotCount() {
        let kernel = [
            KernelAttachment(device: dev, filter: "guard", attachedAt: at),
            KernelAttachment(device: DeviceNumber(major: 7, minor: 1), filter: "stat", attachedAt: at),
        ]
        let actions = ReconcilePlan.actions(rows: [row(.attached)], kernel: .attachments(kernel), presentDevices: [dev])
        #expect(actions == [.attach(id: "a")])
    }

    @Test func unmanagedAreThoseNoRowClaims() {
        let other = KernelAttachment(device: dev, filter: "guard", attachedAt: at)
        let ours = KernelAttachment(device: dev, filter: "stat", attachedAt: at)
        #expect(ReconcilePlan.unmanaged(rows: [row(.detaching)], kernel: [ours, other]) == [other])
        #expect(ReconcilePlan.unmanaged(rows: [], kernel: [ours]) == [ours])
    }
}
