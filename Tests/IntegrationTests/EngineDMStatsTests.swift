// EngineDMStatsTests: a dmflt dm-stats region on a real dm-linear device counts the IO done through it.
import Engine
import Foundation
import Testing

@Suite(.serialized) struct EngineDMStatsTests {
    @Test func regionCountsWritesThroughTheDevice() throws {
        try EngineVM.requireRoot()
        let linear = try EngineLinearDevice()
        defer { linear.remove() }
        let device = try DeviceInventory().resolve(linear.name)
        #expect(device.kind == .dm && device.dmName == linear.name)

        let stats = DMStats()
        let region = try stats.createRegion(on: .name(linear.name))
        defer { try? stats.deleteRegion(region) }
        #expect(try stats.regions(on: .name(linear.name)) == [region])

        try EngineVM.directWrites(to: "/dev/" + device.name, count: 100)
        let sample = try stats.read(region)
        #expect(sample.counters.writes == 100)
        #expect(sample.counters.writeSectors == 800)
        #expect(sample.histogram.bins.count == DMStats.defaultLatencyBoundsNs.count + 1)
        #expect(sample.histogram.total == sample.counters.reads + sample.counters.writes)

        // libdevmapper clears what it reads; the totals must stay cumulative.
        try EngineVM.directWrites(to: "/dev/" + device.name, count: 10)
        let again = try stats.read(region)
        #expect(again.counters.writes == 110)
        #expect(again.counters.writeSectors == 880)
        #expect(again.histogram.total == again.counters.reads + again.counters.writes)

        try stats.deleteRegion(region)
        #expect(try stats.regions(on: .name(linear.name)).isEmpty)
    }

    @Test func anotherProgramsRegionIsNeitherListedNorRead() throws {
        try EngineVM.requireRoot()
        let linear = try EngineLinearDevice()
        defer { linear.remove() }
        let dev = try DeviceInventory().resolve(linear.name).dev
        try EngineVM.run("dmsetup", "stats", "create", "--programid", "someoneelse", linear.name)
        let stats = DMStats()
        #expect(try stats.regions(on: .device(dev)).isEmpty)
        #expect(throws: DMStatsError.self) { _ = try stats.read(DMStatsRegion(target: .device(dev), id: 0)) }
        #expect(throws: DMStatsError.self) { try stats.deleteRegion(DMStatsRegion(target: .device(dev), id: 0)) }
        // Still there for its owner.
        let listing = try EngineVM.run("dmsetup", "stats", "list", "--programid", "someoneelse", linear.name)
        #expect(listing.contains(linear.name))
        let ours = try stats.createRegion(on: .device(dev))
        #expect(ours.id != 0)
        #expect(try stats.regions(on: .device(dev)) == [ours])
        try stats.deleteRegion(ours)
    }

    @Test func aDeviceThatIsNotDeviceMapperIsRefusedWithLibdevmappersReason() throws {
        try EngineVM.requireRoot()
        let stats = DMStats()
        #expect {
            _ = try stats.createRegion(on: .name("dmflt-no-such-device"))
        } throws: { error in
            (error as! DMStatsError).description.hasPrefix("dm-stats create on dm device 'dmflt-no-such-device' failed")
        }
    }
}
