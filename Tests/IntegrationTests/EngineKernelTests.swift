import Foundation
import Testing

// EngineKernelTests: the real DMFilterControl against the project's dm-mod — attach stat, exact counters, detach, errnos.
@testable import Engine

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct EngineKernelTests {
    let control = DMFilterControl()

    @Test func probeFindsTheFilterIoctlAndTheStatType() throws {
        try EngineVM.requireRoot()
        let capability = HostCapability.probe(control: control)
        #expect(capability.filterIoctl, "\(capability.reason ?? "")")
        #expect(capability.reason == nil)
        #expect(capability.filterTypes.contains { $0.name == "stat" })
        #expect(capability.dmVersion?.hasPrefix("4.") == true)
        #expect(capability.kernelRelease == (try EngineVM.run("uname", "-r")))
        let entries = FilterCatalog.standard.entries(kernelTypes: capability.filterTypes)
        #expect(entries.first { $0.name == "stat" }.map { $0.known && $0.loaded && $0.kernelVersion != nil } == true)
    }

    /// The attachment list names devices from /proc/diskstats; on the real kernel that index equals the
    /// /sys/dev/block links, a fresh loop device and a dm-linear device (with its own name) included.
    @Test func diskstatsNamesEveryDeviceAsSysfsDoes() throws {
        try EngineVM.requireRoot()
        let linear = try EngineLinearDevice()
        defer { linear.remove() }
        let inventory = DeviceInventory()
        // A device being added shows its /sys/dev/block link a moment before its diskstats line, so
        // compare a snapshot that held still: diskstats, the links, then diskstats again unchanged.
        var names = inventory.names()
        var linked = inventory.linkedNames()
        for _ in 0..<20 where names != linked || inventory.names() != names {
            usleep(100_000)
            names = inventory.names()
            linked = inventory.linkedNames()
        }
        #expect(
            names == linked,
            "only in diskstats: \(names.filter { linked[$0.key] != $0.value }), only linked: \(linked.filter { names[$0.key] != $0.value }); dmsetup: \((try? EngineVM.run("dmsetup", "info", "-c")) ?? "?")"
        )
        let loopName = (linear.loop.path as NSString).lastPathComponent
        #expect(names.values.contains(loopName))
        #expect(names.count >= 2)
    }

    @Test func statCountsExactlyTheBiosWrittenAndDetachStopsIt() throws {
        try EngineVM.requireRoot()
        let loop = try EngineLoopDevice()
        defer { loop.remove() }
        let inventory = DeviceInventory()
        let device = try inventory.resolve(loop.path)
        #expect(device.kind == .loop)
        #expect(device.loopBackingFile == loop.file)
        #expect(try inventory.resolve(device.dev.description) == device)

        let options = try FilterCatalog.standard.validate(filter: "stat", options: [:])
        try control.attach(device: device.dev, filter: "stat", options: options.kernelText)
        var detached = false
        defer { if !detached { try? control.detach(device: device.dev, filter: "stat") } }

        let listed = try control.listAttachments()
        #expect(listed.contains { $0.device == device.dev && $0.filter == "stat" })
        #expect(try inventory.list(attachments: listed).first { $0.dev == device.dev }?.attachments == ["stat"])

        try EngineVM.directWrites(to: loop.path, count: 100)
        let status = try control.status(device: device.dev, filter: "stat")
        #expect(status.attachment.device == device.dev)
        #expect(status.attachment.filter == "stat")
        #expect(abs(status.attachment.attachedAt.timeIntervalSinceNow) < 3600)
        let counters = try #require(
            FilterCatalog.standard.status(filter: "stat", text: status.text).counters, "stat's status has no counters")
        #expect(counters.writeBios == 100)
        #expect(counters.writeBytes == 409_600)
        #expect(counters.skippedBios == 0)
        #expect(!status.text.isEmpty)

        try control.detach(device: device.dev, filter: "stat")
        detached = true
        #expect(try !control.listAttachments().contains { $0.device == device.dev })
        #expect {
            _ = try control.status(device: device.dev, filter: "stat")
        } throws: { ($0 as! FilterControlError).kind == .notAttached }
        #expect {
            try control.detach(device: device.dev, filter: "stat")
        } throws: { ($0 as! FilterControlError).kind == .notAttached }
    }

    @Test func theKernelsRefusalsBecomeTheRightErrors() throws {
        try EngineVM.requireRoot()
        let loop = try EngineLoopDevice()
        defer { loop.remove() }
        let dev = try DeviceInventory().resolve(loop.path).dev
        func kind(_ body: () throws -> Void) -> FilterControlError.Kind? {
            do {
                try body()
                return nil
            } catch {
                return (error as? FilterControlError)?.kind
            }
        }
        // Options stat does not take are refused before anything is attached.
        #expect(kind { try control.attach(device: dev, filter: "stat", options: "bogus=1") } == .invalid)
        #expect(try control.listAttachments().filter { $0.device == dev }.isEmpty)

        try control.attach(device: dev, filter: "stat", options: "")
        defer { try? control.detach(device: dev, filter: "stat") }
        #expect(kind { try control.attach(device: dev, filter: "stat", options: "") } == .alreadyAttached)
        #expect(kind { try control.attach(device: dev, filter: "nosuchtype", options: "") } == .noSuchFilterType)
        // sd has no on-demand probe (loop and brd create devices when opened): 8:240 stays absent.
        let absent = DeviceNumber(major: 8, minor: 240)
        #expect(DeviceInventory().device(absent) == nil)
        #expect(kind { try control.attach(device: absent, filter: "stat", options: "") } == .noSuchDevice)
        #expect(kind { _ = try control.message(device: dev, filter: "stat", text: "hello") } == .invalid)
        // The refused calls changed nothing: still exactly one stat attachment on the device.
        #expect(try control.listAttachments().filter { $0.device == dev }.map(\.filter) == ["stat"])
    }
}
