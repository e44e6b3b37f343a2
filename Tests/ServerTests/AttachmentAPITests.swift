// AttachmentAPITests: the attachment routes end to end over a fake kernel: lifecycle, idempotence, conflicts.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct AttachmentAPITests {
    let loop0 = DeviceNumber(major: 7, minor: 0)

    @Test func postAttachesRecordsAndAnswersTheObject() async throws {
        let h = try APITestHarness()
        let r = await h.call(
            "POST", "/v1/hosts/local/attachments",
            json: #"{"device":"/dev/loop0","filter":"guard","options":{"mode":"rw"}}"#)
        #expect(r.status == 201)
        #expect(r.contentType == "application/json")
        #expect(r.phase == "attached")
        let id = try #require(r.object["id"] as? String)
        #expect(r.headers["Location"] == "/v1/hosts/testhost/attachments/\(id)")
        #expect(r.object["host"] as? String == "testhost")
        #expect(r.object["device"] as? [String: String] == ["path": "/dev/loop0", "dev": "7:0", "name": "loop0"])
        #expect(r.object["options"] as? NSDictionary == ["mode": "rw", "verbose": false] as NSDictionary)
        #expect(h.control.attachments.map(\.device) == [loop0])
        #expect(h.control.kernelOptions(loop0, "guard") == "mode=rw verbose=0")
        #expect(try h.store.row(id: id)?.phase == .attached)

        let got = await h.call("GET", "/v1/hosts/testhost/attachments/\(id)")
        #expect(got.status == 200)
        #expect(got.object["id"] as? String == id)
        // guard counts no IO: its own status, decoded by its type, is status.filter.
        let status = got.object["status"] as? [String: Any]
        #expect(status?["counters"] == nil)
        let denied = (status?["filter"] as? [String: Any])?["denied"] as? [String: Any]
        #expect((denied?["write"] as? [String: Any])?["bios"] as? Int == 2)
        let list = await h.call("GET", "/v1/hosts/local/attachments")
        #expect(list.items.map { $0["id"] as? String } == [id])
    }

    /// A list reads the inventory once, not once per attachment: each lookup of an absent device
    /// scans sysfs, and 1,000 waiting attachments made one list take 0.7 s.
    @Test func aListReadsTheInventoryOnceWhateverItsLength() async throws {
        let h = try APITestHarness()
        for minor in 0..<20 {
            let r = await h.call(
                "PUT", "/v1/hosts/local/attachments/w\(minor)", json: #"{"device":"250:\#(minor)","filter":"stat"}"#)
            #expect(r.status == 201 && r.phase == "waiting-device")
        }
        #expect(
            await h.call("PUT", "/v1/hosts/local/attachments/p", json: #"{"device":"loop1","filter":"stat"}"#).status
                == 201)
        let before = h.devices.reads
        let list = await h.call("GET", "/v1/hosts/local/attachments")
        #expect(list.items.count == 21)
        #expect(h.devices.reads.inventory == before.inventory + 1)
        #expect(h.devices.reads.single == before.single)
        // Names still come from that read: the present device shows its current path.
        let p = list.items.first { $0["id"] as? String == "p" }
        #expect((p?["device"] as? [String: String])?["path"] == "/dev/loop1")
    }

    /// The list is reused only while its inputs are the same: every write, device change and kernel
    /// change shows in the very next list.
    @Test func aRepeatedListNeverHidesAChange() async throws {
        let h = try APITestHarness()
        func ids() async -> [String] {
            await h.call("GET", "/v1/hosts/local/attachments").items.compactMap { $0["id"] as? String }
        }
        func path(_ id: String) async -> String? {
            let item = await h.call("GET", "/v1/hosts/local/attachments").items.first { $0["id"] as? String == id }
            return (item?["device"] as? [String: String])?["path"]
        }
        #expect(await ids() == [])
        #expect(
            await h.call("PUT", "/v1/hosts/local/attachments/a", json: #"{"device":"loop0","filter":"stat"}"#).status
                == 201)
        #expect(await ids() == ["a"])
        #expect(await ids() == ["a"])
        #expect(
            await h.call("PUT", "/v1/hosts/local/attachments/w", json: #"{"device":"7:9","filter":"stat"}"#).status
                == 201)
        #expect(await ids() == ["a", "w"])
        #expect(await path("w") == "/dev/block/7:9")
        // The device appears under a name: the same rows, another inventory.
        h.devices.add(FakeDevices.loop(9))
        #expect(await path("w") == "/dev/loop9")
        // The kernel gains an attachment nobody asked dmflt for.
        h.control.attachOutside(FakeDevices.loop(1).dev, "stat")
        #expect(await ids() == ["a", "w", "unmanaged-7-1-stat"])
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/a").status == 204)
        #expect(await ids() == ["w", "unmanaged-7-1-stat"])
    }

    @Test func putIsIdempotentAndRefusesAnotherSpec() async throws {
        let h = try APITestHarness()
        let first = await h.attach("db-stat")
        #expect(first.status == 201)
        let again = await h.attach("db-stat", device: "7:0")
        #expect(again.status == 200)
        #expect(again.object["createdAt"] as? String == first.object["createdAt"] as? String)
        #expect(h.control.attachCalls == 1)
        let other = await h.attach("db-stat", device: "/dev/loop1")
        #expect(other.status == 409)
        #expect(other.problemType == "urn:dmflt:problem:conflict")
        #expect(h.control.attachments.count == 1)
    }

    @Test func theSameFilterOnTheSameDeviceUnderAnotherIdConflicts() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("one").status == 201)
        let second = await h.attach("two", device: "loop0")
        #expect(second.status == 409)
        #expect(try h.store.rows().map(\.id) == ["one"])
        #expect(h.control.attachCalls == 1)
    }

    @Test func concurrentAttachesOfOneFilterToOneDeviceHaveExactlyOneWinner() async throws {
        let h = try APITestHarness()
        let statuses = await withTaskGroup(of: Int.self) { group in
            for i in 0..<8 { group.addTask { await h.attach("racer-\(i)").status } }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.sorted() == [201] + Array(repeating: 409, count: 7))
        #expect(h.control.attachments.count == 1)
        #expect(try h.store.rows().count == 1)
    }

    @Test func anAbsentDeviceNamedByNumberWaitsAndAttachesWhenItAppears() async throws {
        let h = try APITestHarness()
        let r = await h.attach("later", device: "7:5")
        #expect(r.status == 201)
        #expect(r.phase == "waiting-device")
        #expect(h.control.attachCalls == 0)
        h.devices.add(FakeDevices.loop(5))
        await h.service.reconcileAll()
        #expect(h.control.attachments.map(\.device) == [DeviceNumber(major: 7, minor: 5)])
        #expect(await h.call("GET", "/v1/hosts/local/attachments/later").phase == "attached")
    }

    @Test func deleteDetachesAndForgets() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        let r = await h.call("DELETE", "/v1/hosts/local/attachments/x")
        #expect(r.status == 204)
        #expect(h.control.attachments.isEmpty)
        #expect(try h.store.rows().isEmpty)
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/x").status == 404)
        #expect(await h.call("GET", "/v1/hosts/local/attachments/x").status == 404)
    }

    @Test func aBusyDetachStaysDesiredGoneAndTheReconcilerFinishesIt() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        h.control.failNextDetach(.busy)
        let r = await h.call("DELETE", "/v1/hosts/local/attachments/x")
        #expect(r.status == 409)
        #expect(r.problemType == "urn:dmflt:problem:busy")
        #expect(try h.store.row(id: "x")?.phase == .detaching)
        await h.service.reconcileAll()
        #expect(h.control.attachments.isEmpty)
        #expect(try h.store.rows().isEmpty)
    }

    @Test func messagesReachTheFilterAndComeBack() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("x").status == 201)
        let r = await h.call("POST", "/v1/hosts/local/attachments/x/messages", json: #"{"message":"reset"}"#)
        #expect(r.status == 200)
        #expect(r.object["reply"] as? String == "ok")
        let refused = await h.call("POST", "/v1/hosts/local/attachments/x/messages", json: #"{"message":"explode"}"#)
        #expect(refused.status == 422)
        #expect(await h.attach("w", device: "7:9").phase == "waiting-device")
        let waiting = await h.call("POST", "/v1/hosts/local/attachments/w/messages", json: #"{"message":"reset"}"#)
        #expect(waiting.status == 409)
        #expect(waiting.problemType == "urn:dmflt:problem:not-attached")
    }

    @Test func attachmentsMadeOutsideDmfltShowAsUnmanagedAndStayUntouched() async throws {
        let h = try APITestHarness()
        h.control.attachOutside(loop0, "stat")
        let list = await h.call("GET", "/v1/hosts/local/attachments")
        #expect(list.items.count == 1)
        #expect(list.items.first?["id"] as? String == "unmanaged-7-0-stat")
        #expect((list.items.first?["status"] as? [String: Any])?["phase"] as? String == "unmanaged")
        #expect(await h.call("GET", "/v1/hosts/local/attachments/unmanaged-7-0-stat").status == 200)
        let del = await h.call("DELETE", "/v1/hosts/local/attachments/unmanaged-7-0-stat")
        #expect(del.status == 409)
        #expect(del.problemType == "urn:dmflt:problem:unmanaged")
        let clash = await h.attach("mine")
        #expect(clash.status == 409)
        #expect(clash.problemType == "urn:dmflt:problem:already-attached")
        await h.service.reconcileAll()
        #expect(h.control.attachments.count == 1)
        #expect(h.control.detachCalls == 0)
        #expect(try h.store.rows().isEmpty)
        let devices = await h.call("GET", "/v1/hosts/local/devices")
        #expect(devices.items.first?["attachments"] as? [String] == ["unmanaged-7-0-stat"])
    }

    @Test func kernelRefusalsAreMappedAndRecordNothing() async throws {
        let h = try APITestHarness()
        h.control.failNextAttach(.invalid)
        let invalid = await h.attach("x")
        #expect(invalid.status == 422)
        #expect(invalid.problemType == "urn:dmflt:problem:kernel-refused")
        #expect(invalid.object["errno"] as? String == "99")
        h.control.unavailable = true
        let none = await h.attach("x")
        #expect(none.status == 501)
        #expect(none.problemType == "urn:dmflt:problem:filter-ioctl-unavailable")
        #expect(try h.store.rows().isEmpty)
        let host = await h.call("GET", "/v1/host")
        #expect(host.status == 200)
        #expect(host.object["filterIoctl"] as? Bool == false)
        #expect(host.object["reason"] as? String == "no filter IOCTL")
    }
}
