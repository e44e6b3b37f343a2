// HostProbeMemoTests: GET /v1/host's facts and a list's devices and kernel attachments are kept, yet never miss an attach or detach this daemon made.
import Engine
import Foundation
import Prometheus
import Testing

@testable import dmfltd

@Suite struct HostProbeMemoTests {
    /// The fake kernel, with each list-types call counted and the attachments per type as it has them.
    final class CountedKernel: FilterControl, @unchecked Sendable {
        let fake = FakeFilterControl()
        private let lock = NSLock()
        private var calls = 0
        var listTypesCalls: Int { lock.withLock { calls } }

        func listTypes() throws(FilterControlError) -> [KernelFilterType] {
            lock.withLock { calls += 1 }
            let attached = fake.attachments
            return try fake.listTypes().map { t in
                KernelFilterType(
                    name: t.name, version: t.version, attachments: attached.filter { $0.filter == t.name }.count)
            }
        }
        func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError) {
            try fake.attach(device: device, filter: filter, options: options)
        }
        func detach(device: DeviceNumber, filter: String) throws(FilterControlError) {
            try fake.detach(device: device, filter: filter)
        }
        func listAttachments() throws(FilterControlError) -> [KernelAttachment] { try fake.listAttachments() }
        func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus {
            try fake.status(device: device, filter: filter)
        }
        func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String {
            try fake.message(device: device, filter: filter, text: text)
        }
        func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> KernelQueryReply {
            try fake.query(device: device, filter: filter, text: text)
        }
    }

    static func stat(_ facts: HostFacts) -> Int? { facts.filterTypes.first { $0.name == "stat" }?.attachments }

    /// A hundred asks in a row read the kernel about once (once per second they take), not a hundred times.
    @Test func repeatedAsksAreAnsweredFromWhatWasRead() {
        let kernel = CountedKernel()
        let control = CountingFilterControl(kernel, registry: PrometheusCollectorRegistry())
        let probe = KernelHostProbe(control: control, changes: control.changes)
        let first = probe.probe()
        for _ in 0..<100 { #expect(probe.probe() == first) }
        #expect(kernel.listTypesCalls < 50)
    }

    /// An attach or a detach of this daemon shows in the very next answer.
    @Test func thisDaemonsAttachAndDetachShowAtOnce() throws {
        let kernel = CountedKernel()
        let control = CountingFilterControl(kernel, registry: PrometheusCollectorRegistry())
        let probe = KernelHostProbe(control: control, changes: control.changes)
        let dev = DeviceNumber(major: 7, minor: 0)
        #expect(Self.stat(probe.probe()) == 0)
        try control.attach(device: dev, filter: "stat", options: "")
        #expect(Self.stat(probe.probe()) == 1)
        try control.detach(device: dev, filter: "stat")
        #expect(Self.stat(probe.probe()) == 0)
        // A failed attach may have changed nothing, but the next answer reads the kernel again anyway.
        kernel.fake.failNextAttach(.busy)
        #expect(throws: FilterControlError.self) { try control.attach(device: dev, filter: "stat", options: "") }
        let before = kernel.listTypesCalls
        _ = probe.probe()
        #expect(kernel.listTypesCalls == before + 1)
    }

    /// A list made after this daemon attached something shows the kernel as it is then, including what
    /// someone else attached before (kept observations are dropped at this daemon's attach).
    @Test func aListAfterThisDaemonsAttachShowsTheKernelAsItIsThen() async throws {
        let harness = try APITestHarness()
        let control = CountingFilterControl(harness.control, registry: PrometheusCollectorRegistry())
        let service = AttachmentService(
            store: harness.store, control: control, devices: harness.devices, catalog: FakeCatalog(),
            stores: StoreProvisioner(host: harness.storeHost))
        var router = Router()
        DaemonAPI(
            hostName: "testhost", version: "0.0.0-test", url: nil, service: service,
            probe: FakeProbe(control: harness.control), kernelChanges: control.changes
        ).register(into: &router)
        func ids() async throws -> [String] {
            guard case .found(let list, _, _) = router.match(method: "GET", path: "/v1/hosts/local/attachments") else {
                throw TestFailure("no list route")
            }
            var request = Request(method: "GET", path: "/v1/hosts/local/attachments")
            request.pathParameters = ["host": "local"]
            let body = Data(try await list(request).bodyBytes ?? [])
            let items = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["items"] as? [[String: Any]]
            return (items ?? []).compactMap { $0["id"] as? String }
        }
        #expect(try await ids().isEmpty)
        harness.control.attachOutside(FakeDevices.loop(1).dev, "stat")
        _ = try await service.create(
            id: "mine", spec: try service.resolve(device: "/dev/loop0", filter: "stat", options: [:]), repeatable: true)
        let listed = try await ids()
        #expect(listed.contains("mine") && listed.contains { $0.hasPrefix("unmanaged-") }, "\(listed)")
    }

    /// What someone else changed is read again once the kept facts are a second old.
    @Test func keptFactsExpireAfterASecondAndOnAChange() {
        let memo = KernelReadMemo<HostFacts>()
        let facts = HostFacts(
            kernelRelease: "6.1.0", dmVersion: "4.47.0", filterIoctl: true, filterTypes: [], reason: nil)
        let t0 = ContinuousClock.now
        memo.keep(facts, generation: 3, now: t0)
        #expect(memo.value(generation: 3, now: t0 + .milliseconds(999)) == facts)
        #expect(memo.value(generation: 3, now: t0 + .seconds(1)) == nil)
        #expect(memo.value(generation: 4, now: t0) == nil)
    }
}
