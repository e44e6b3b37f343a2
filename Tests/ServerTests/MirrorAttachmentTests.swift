// MirrorAttachmentTests: mirror through the API over fakes: target checks, a detach that reports an incomplete target, cutover's 409s, and no re-attach after a cutover.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct MirrorAttachmentTests {
    static let loop0 = DeviceNumber(major: 7, minor: 0)
    static let loop1 = DeviceNumber(major: 7, minor: 1)

    func put(_ h: APITestHarness, target: String = "/dev/loop1", device: String = "loop0") async -> APIReply {
        await h.call(
            "PUT", "/v1/hosts/local/attachments/mig",
            json: #"{"device":"\#(device)","filter":"mirror","options":{"target":"\#(target)"}}"#)
    }

    func message(_ h: APITestHarness, _ text: String) async -> APIReply {
        await h.call("POST", "/v1/hosts/local/attachments/mig/messages", json: #"{"message":"\#(text)"}"#)
    }

    @Test func aTargetThatSharesStorageOrIsSmallerIsRefusedAndNothingHappens() async throws {
        let h = try APITestHarness(realCatalog: true)
        var small = FakeDevices.loop(2)
        small.sizeBytes = 1 << 20
        h.devices.add(small)
        for (relation, why) in [
            (DeviceRelation.sameDisk, "on the same disk"), (.stackedOn, "stacked on the device"),
            (.under, "holds the device"),
        ] {
            h.devices.relations = [Self.loop1: [Self.loop0: relation]]
            let r = await put(h)
            #expect(r.status == 400 && r.problemType == "urn:dmflt:problem:invalid-value", "\(r.object)")
            #expect((r.object["detail"] as? String ?? "").contains(why), "\(r.object)")
        }
        h.devices.relations = [:]
        for (target, why) in [("/dev/loop0", "is the device itself"), ("/dev/loop2", "is smaller than the device")] {
            let r = await put(h, target: target)
            #expect(r.status == 400 && (r.object["detail"] as? String ?? "").contains(why), "\(r.object)")
        }
        #expect(h.control.attachments.isEmpty)
        #expect(await h.call("GET", "/v1/hosts/local/attachments").items.isEmpty)
        let r = await put(h)
        #expect(r.status == 201 && r.phase == "attached", "\(r.object)")
        #expect(h.control.kernelOptions(Self.loop0, "mirror") == "target=7:1 rate-limit=0 region-size=1048576")
    }

    @Test func aDetachWhileCopyingSaysTheTargetIsIncomplete() async throws {
        let h = try APITestHarness(realCatalog: true)
        #expect(await put(h).status == 201)
        let r = await h.call("DELETE", "/v1/hosts/local/attachments/mig")
        #expect(r.status == 200 && r.object["targetComplete"] as? Bool == false, "\(r.object)")
        #expect(r.object["copiedBytes"] as? Int == 16 << 20 && r.object["totalBytes"] as? Int == 64 << 20)
        #expect(h.control.attachments.isEmpty)
        #expect(await put(h).status == 201)
        h.control.mirrorState = "synchronized"
        #expect(await h.call("DELETE", "/v1/hosts/local/attachments/mig").status == 204)
    }

    @Test func cutoverOnlyWhenSynchronizedAndThenDetachIsRefusedUnlessForced() async throws {
        let h = try APITestHarness(realCatalog: true)
        #expect(await put(h).status == 201)
        let early = await message(h, "cutover")
        #expect(early.status == 409, "\(early.object)")
        // a refused cutover leaves nothing that would keep the mirror from coming back after a reboot
        #expect(try h.store.row(id: "mig")?.lastingReason == nil)
        h.control.mirrorState = "synchronized"
        #expect(await message(h, "cutover").status == 200)
        let reason = try #require(try h.store.row(id: "mig")?.lastingReason)
        #expect(reason.hasPrefix("the source is stale since cutover at 20") && reason.hasSuffix("at the target"))
        let refused = await h.call("DELETE", "/v1/hosts/local/attachments/mig")
        #expect(refused.status == 409 && refused.problemType == "urn:dmflt:problem:cutover-active", "\(refused.object)")
        #expect(h.control.attachments.count == 1)
        let forced = await h.call("DELETE", "/v1/hosts/local/attachments/mig?force=true")
        #expect(forced.status == 204, "\(forced.object)")
        #expect(h.control.messages == ["mirror cutover", "mirror cutover", "mirror release"])
        #expect(h.control.attachments.isEmpty)
    }

    @Test func aCutOverMirrorLostByTheKernelFailsAndIsNeverAttachedAgain() {
        var row = AttachmentRow(
            id: "mig", dev: Self.loop0, devicePath: "/dev/loop0", deviceName: "loop0", filter: "mirror", options: [:],
            kernelOptions: "target=7:1", createdAt: Date(), phase: .attached, error: nil, attachedAt: Date())
        let present: Set<DeviceNumber> = [Self.loop0]
        #expect(
            ReconcilePlan.actions(rows: [row], kernel: .attachments([]), presentDevices: present) == [
                .attach(id: "mig")
            ])
        row.lastingReason = "the source is stale since cutover at T: point consumers at the target"
        #expect(
            ReconcilePlan.actions(rows: [row], kernel: .attachments([]), presentDevices: present) == [
                .markFailed(id: "mig", reason: row.lastingReason!)
            ])
        row.phase = .failed
        row.error = row.lastingReason
        #expect(ReconcilePlan.actions(rows: [row], kernel: .attachments([]), presentDevices: present).isEmpty)
        // still in the kernel (dmfltd restarted, no reboot): adopted as it is
        let inKernel = KernelAttachment(device: Self.loop0, filter: "mirror", attachedAt: Date())
        row.phase = .attached
        row.error = nil
        #expect(ReconcilePlan.actions(rows: [row], kernel: .attachments([inKernel]), presentDevices: present).isEmpty)
    }
}
