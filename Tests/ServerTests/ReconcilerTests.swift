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

    /// loop0 is detached (the kernel frees its filter) and the number goes to another image.
    func loop0(backedBy file: String) -> DeviceSummary {
        var d = FakeDevices.loop(0)
        d.loopBackingFile = file
        return d
    }

    @Test func aLoopNumberReusedForAnotherImageDoesNotInheritTheFilter() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-ident-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (a, b) = (dir + "/a.img", dir + "/b.img")
        for f in [a, b] { #expect(FileManager.default.createFile(atPath: f, contents: Data(count: 512))) }
        let h = try APITestHarness()
        h.devices.add(loop0(backedBy: a))
        #expect(await h.attach("x").status == 201)
        h.devices.remove(loop0)
        h.control.removeOutside(loop0, "stat")
        await h.service.reconcileAll()
        h.devices.add(loop0(backedBy: b))
        await h.service.reconcileAll()
        let r = await h.call("GET", "/v1/hosts/local/attachments/x")
        #expect(r.phase == "waiting-device")
        let error = (r.object["status"] as? [String: Any])?["error"] as? String ?? ""
        #expect(error.contains("a different device now has 7:0"), "\(error)")
        #expect(h.control.attachments.isEmpty && h.control.attachCalls == 1)
        #expect(try h.store.row(id: "x")?.devicePath == "/dev/loop0")
        // The same path with a new file behind it is another image too.
        try FileManager.default.removeItem(atPath: a)
        #expect(FileManager.default.createFile(atPath: a, contents: Data(count: 512)))
        h.devices.add(loop0(backedBy: a))
        await h.service.reconcileAll()
        #expect(h.control.attachments.isEmpty)
        #expect(try h.store.row(id: "x")?.phase == .waitingDevice)
    }

    @Test func anIdentityStoredWithoutTheInodeGenerationStillMatchesItsInode() {
        let old = "loop:/srv/a.img@2049:12"
        #expect(DeviceIdentity.matches(stored: old, current: "loop:/srv/a.img@2049:12:3735928559"))
        #expect(!DeviceIdentity.matches(stored: old, current: "loop:/srv/a.img@2049:13:3735928559"))
        #expect(!DeviceIdentity.matches(stored: old, current: "loop:/srv/a.img@2049:123"))
        #expect(!DeviceIdentity.matches(stored: old + ":1", current: old + ":2"))
        #expect(!DeviceIdentity.matches(stored: "dm-uuid:LVM-a", current: "dm-uuid:LVM-a:1"))
        #expect(!DeviceIdentity.matches(stored: old, current: nil))
    }

    @Test func theDeviceTheFilterWasForGetsItBack() async throws {
        let h = try APITestHarness()
        var dm = FakeDevices.loop(0)
        (dm.kind, dm.loopBackingFile, dm.dmName, dm.dmUUID) = ("dm", nil, "vg-data", "LVM-aaaa")
        h.devices.add(dm)
        #expect(await h.attach("x").status == 201)
        h.devices.remove(loop0)
        h.control.removeOutside(loop0, "stat")
        var other = dm
        (other.dmName, other.dmUUID) = ("vg-other", "LVM-bbbb")
        h.devices.add(other)
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "x")?.phase == .waitingDevice)
        #expect(h.control.attachments.isEmpty)
        h.devices.add(dm)
        await h.service.reconcileAll()
        let row = try #require(try h.store.row(id: "x"))
        #expect(row.phase == .attached && row.error == nil)
        #expect(h.control.attachments.map(\.device) == [loop0])
    }

    @Test func aRowMadeByNumberAloneAdoptsTheFirstDeviceSeenThere() async throws {
        let h = try APITestHarness()
        h.devices.remove(loop0)
        let r = await h.call("PUT", "/v1/hosts/local/attachments/n", json: #"{"device":"7:0","filter":"stat"}"#)
        #expect(r.status == 201 && r.phase == "waiting-device")
        #expect(try h.store.row(id: "n")?.deviceIdentity == nil)
        h.devices.add(loop0(backedBy: "/srv/first.img"))
        await h.service.reconcileAll()
        #expect(try h.store.row(id: "n")?.deviceIdentity == "loop:/srv/first.img")
        #expect(try h.store.row(id: "n")?.phase == .attached)
    }
}
