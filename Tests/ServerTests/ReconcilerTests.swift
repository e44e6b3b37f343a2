// ReconcilerTests: after crashes, reboots and hand edits, a reconcile pass makes the kernel match the database.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct ReconcilerTests {
    let loop0 = DeviceNumber(major: 7, minor: 0)

    @Test func anAttachmentRemovedByHandIsAttachedAgain() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        h.control.removeOutside(loop0, "stat")
        await h.service.reconcileAll()
        #expect(h.control.attachments.count == 1)
        await h.service.reconcileAll()
        #expect(h.control.attachCalls == 2)
    }

    @Test func aDeviceThatGoesAwayWaitsAndComesBack() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        h.devices.remove(loop0)
        h.control.removeOutside(loop0, "stat")
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "x")?.phase == .waitingDevice)
        h.devices.add(FakeDevices.loop(0))
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "x")?.phase == .attached)
        #expect(h.control.attachments.count == 1)
    }

    @Test func aRowLeftPendingByACrashIsAdoptedOrAttached() async throws {
        let h = try APITestHarness()
        let row = AttachmentRow(
            id: "p", dev: loop0, devicePath: "/dev/loop0", deviceName: "loop0", filter: "stat", options: [:],
            kernelOptions: "", createdAt: Date(), phase: .pending, error: nil, attachedAt: nil)
        _ = try h.store.insert(row)
        var other = row
        other.id = "q"
        other.dev = DeviceNumber(major: 7, minor: 1)
        _ = try h.store.insert(other)
        h.control.attachOutside(loop0, "stat")  // the crashed daemon's IOCTL went through for p only
        await h.service.reconcileAll()
        #expect(try h.store.rows().map(\.phase) == [.attached, .attached])
        #expect(h.control.attachments.count == 2)
        #expect(h.control.attachCalls == 1)
    }

    @Test func aKernelRefusalMarksTheRowFailedWithTheReasonAndIsRetried() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        h.control.removeOutside(loop0, "stat")
        h.control.failNextAttach(.noSuchFilterType)
        await h.service.reconcileAll()
        let failed = try #require(try h.store.row(id: "x"))
        #expect(failed.phase == .failed)
        #expect(failed.error == "attach failed: noSuchFilterType")
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "x")?.phase == .attached)
    }

    @Test func aRepeatedPutConvergesAFailedRowAtOnce() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        h.control.removeOutside(loop0, "stat")
        h.control.failNextAttach(.busy)
        await h.service.reconcileAll()
        let again = await h.attach("x")
        #expect(again.status == 200)
        #expect(again.phase == "attached")
    }

    @Test func restartingOnTheSameStateDirectoryKeepsEverything() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-restart-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try APITestHarness(store: try AttachmentStore(directory: dir))
        #expect(await first.attach("keep").status == 201)
        let second = try APITestHarness(store: try AttachmentStore(directory: dir))
        // A fresh kernel (after a reboot) has nothing; the second daemon's first pass re-attaches.
        await second.service.reconcileAll()
        #expect(second.control.attachments.map(\.device) == [loop0])
        #expect(await second.call("GET", "/v1/hosts/local/attachments/keep").phase == "attached")
    }

    @Test func aDetachingRowSurvivesAListingThatFailsBetweenABusyDetachAndItsRetry() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        h.control.failNextDetach(.busy, errno: EBUSY)
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/x").status == 409)
        #expect(try h.store.row(id: "x")?.phase == .detaching)
        h.control.failNextList(.system, errno: EMFILE)
        await h.service.reconcileAll()
        // Still ours, still detaching, never shown as an unmanaged attachment nobody can remove.
        #expect(try h.store.row(id: "x")?.phase == .detaching)
        #expect(await h.call("GET", "/v1/hosts/local/attachments/x").phase == "detaching")
        #expect(h.control.attachments.count == 1)
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "x") == nil)
        #expect(h.control.attachments.isEmpty)
        #expect(h.control.detachCalls == 2)
    }

    @Test func aDetachWhoseControlDeviceWillNotOpenIsNotCountedAsDone() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        // EMFILE on reopening /dev/mapper/control: the engine reports the IOCTL unavailable, with that errno.
        h.control.failNextDetach(.ioctlUnavailable, errno: EMFILE)
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/x").status >= 400)
        #expect(try h.store.row(id: "x")?.phase == .detaching)
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "x") == nil)
        #expect(h.control.attachments.isEmpty)
    }
}
