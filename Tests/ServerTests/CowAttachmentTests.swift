// CowAttachmentTests: cow through the API over fakes: its diff storage made ready, refused on the device itself, busy and forced detach, and no silent re-take.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct CowAttachmentTests {
    static let loop0 = DeviceNumber(major: 7, minor: 0)

    func harness(_ configure: (FakeStoreHost) -> Void = { _ in }) throws -> APITestHarness {
        let host = FakeStoreHost(disks: [DeviceNumber(major: 259, minor: 1): Self.loop0])
        configure(host)
        return try APITestHarness(realCatalog: true, storeHost: host)
    }

    func put(_ h: APITestHarness, _ options: String, device: String = "loop0") async -> APIReply {
        await h.call(
            "PUT", "/v1/hosts/local/attachments/snap",
            json: #"{"device":"\#(device)","filter":"cow","options":{\#(options)}}"#)
    }

    @Test func aFileDiffStorageIsMadeAsALoopDeviceAndTheKernelGetsItsNumber() async throws {
        let h = try harness()
        let r = await put(h, #""diff-storage":"/srv/diff","diff-storage-limit":"16M""#)
        #expect(r.status == 201, "\(r.object)")
        #expect(r.phase == "attached")
        #expect(h.storeHost.created == ["/srv/diff": 16 << 20])
        #expect(
            h.control.kernelOptions(Self.loop0, "cow")
                == "diff-storage-limit=16777216 chunk-size=65536 diff-storage=7:100")
        // dmflt's own hold on the loop device ends once the kernel has it.
        #expect(h.storeHost.closed == h.storeHost.loops)
        let got = await h.call("GET", "/v1/hosts/local/attachments/snap")
        let filter = try #require((got.object["status"] as? [String: Any])?["filter"] as? [String: Any])
        let diff = try #require(filter["diffStorage"] as? [String: Any])
        #expect(diff["path"] as? String == "/srv/diff" && diff["device"] as? String == "7:9")
        #expect(filter["state"] as? String == "active")
    }

    @Test func aBlockDeviceDiffStorageIsGivenAsIs() async throws {
        let h = try harness { $0.set("/dev/sdc", .blockDevice(DeviceNumber(major: 8, minor: 32))) }
        let r = await put(h, #""diff-storage":"/dev/sdc""#)
        #expect(r.status == 201, "\(r.object)")
        #expect(h.control.kernelOptions(Self.loop0, "cow") == "chunk-size=65536 diff-storage=8:32")
        #expect(h.storeHost.created.isEmpty && h.storeHost.loops.isEmpty)
    }

    @Test func diffStorageOnTheSnapshottedDeviceIsRefusedAndNothingHappens() async throws {
        let h = try harness { host in
            host.set("/dev/loop0", .blockDevice(Self.loop0))
            host.set("/dev/loop0p1", .blockDevice(DeviceNumber(major: 259, minor: 1)))
            host.set("/mnt/on-loop0/diff", .regularFile(size: 0, allocated: 0, device: Self.loop0))
            host.set(
                "/mnt/on-part/diff", .regularFile(size: 0, allocated: 0, device: DeviceNumber(major: 259, minor: 1)))
        }
        for path in ["/dev/loop0", "/dev/loop0p1", "/mnt/on-loop0/diff", "/mnt/on-part/diff"] {
            let r = await put(h, #""diff-storage":"\#(path)","diff-storage-limit":"1M""#)
            #expect(r.status == 400, "\(path)")
            #expect(r.problemType == "urn:dmflt:problem:invalid-value")
            #expect((r.object["detail"] as? String ?? "").contains("the device being filtered"), "\(r.object)")
        }
        #expect(h.control.attachCalls == 0)
        #expect(h.storeHost.created.isEmpty)
        #expect(await h.call("GET", "/v1/hosts/local/attachments/snap").status == 404)
    }

    @Test func aFileWithDataOrWithoutASizeIsRefused() async throws {
        let h = try harness {
            $0.set("/srv/used", .regularFile(size: 1 << 20, allocated: 4096, device: DeviceNumber(major: 8, minor: 16)))
        }
        let used = await put(h, #""diff-storage":"/srv/used","diff-storage-limit":"1M""#)
        #expect(used.status == 400 && (used.object["detail"] as? String ?? "").contains("holds data"))
        let unsized = await put(h, #""diff-storage":"/srv/new""#)
        #expect(unsized.status == 400 && (unsized.object["detail"] as? String ?? "").contains("diff-storage-limit"))
        let relative = await put(h, #""diff-storage":"srv/new","diff-storage-limit":"1M""#)
        #expect(relative.status == 400 && relative.problemType == "urn:dmflt:problem:invalid-value")
        #expect(h.control.attachCalls == 0)
    }

    @Test func aStoreThatCannotBeSetUpIs422AndLeavesNoFileBehind() async throws {
        let h = try harness { $0.failLoop = true }
        let r = await put(h, #""diff-storage":"/srv/diff","diff-storage-limit":"1M""#)
        #expect(r.status == 422 && r.problemType == "urn:dmflt:problem:store-unusable", "\(r.object)")
        #expect(h.storeHost.created.isEmpty && h.storeHost.removed == ["/srv/diff"])
        #expect(await h.call("GET", "/v1/hosts/local/attachments/snap").status == 404)
    }

    @Test func aKernelRefusalRemovesTheFileItWasMadeFor() async throws {
        let h = try harness()
        h.control.failNextAttach(.invalid)
        let r = await put(h, #""diff-storage":"/srv/diff","diff-storage-limit":"1M""#)
        #expect(r.status == 422)
        #expect(h.storeHost.created.isEmpty && h.storeHost.removed == ["/srv/diff"])
        #expect(h.storeHost.closed == h.storeHost.loops && h.storeHost.loops.count == 1)
    }

    @Test func aSnapshotOfAnAbsentDeviceIsRefusedRatherThanTakenLater() async throws {
        let h = try harness()
        let r = await put(h, #""diff-storage":"/srv/diff","diff-storage-limit":"1M""#, device: "7:9")
        #expect(r.status == 409 && r.problemType == "urn:dmflt:problem:device-absent", "\(r.object)")
        #expect(h.storeHost.created.isEmpty && h.control.attachCalls == 0)
    }

    @Test func detachWhileTheImageIsOpenIsBusyAndForceInvalidatesFirst() async throws {
        let h = try harness()
        #expect(await put(h, #""diff-storage":"/srv/diff","diff-storage-limit":"1M""#).status == 201)
        h.control.cowImageOpen = true
        let busy = await h.call("DELETE", "/v1/hosts/local/attachments/snap")
        #expect(busy.status == 409 && busy.problemType == "urn:dmflt:problem:busy", "\(busy.object)")
        #expect((busy.object["detail"] as? String ?? "").contains("image is open"))
        // Nothing changed: still attached, file kept, no message sent.
        #expect(await h.call("GET", "/v1/hosts/local/attachments/snap").phase == "attached")
        #expect(h.storeHost.created.keys.sorted() == ["/srv/diff"] && h.control.messages.isEmpty)
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/snap?force=maybe").status == 400)
        let forced = await h.call("DELETE", "/v1/hosts/local/attachments/snap?force=true")
        #expect(forced.status == 204, "\(forced.object)")
        #expect(h.control.messages == ["cow invalidate"])
        #expect(h.control.attachments.isEmpty)
        #expect(h.storeHost.removed == ["/srv/diff"] && h.storeHost.created.isEmpty)
    }

    @Test func aSnapshotTheKernelLostIsFailedAndNeverTakenAgain() async throws {
        let h = try harness()
        #expect(await put(h, #""diff-storage":"/srv/diff","diff-storage-limit":"1M""#).status == 201)
        await h.service.reconcileAll()
        #expect(h.control.attachCalls == 1)
        h.control.removeOutside(Self.loop0, "cow")  // a reboot or a module unload
        await h.service.reconcileAll()
        await h.service.reconcileAll()
        let got = await h.call("GET", "/v1/hosts/local/attachments/snap")
        #expect(got.phase == "failed")
        let error = (got.object["status"] as? [String: Any])?["error"] as? String
        #expect(error == ReconcilePlan.lost)
        #expect(h.control.attachCalls == 1)
        // Detaching the lost snapshot removes the file dmflt made for it.
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/snap").status == 204)
        #expect(h.storeHost.removed == ["/srv/diff"])
    }
}
