// HostRoutesTests: health, host, hosts, filters and devices answer this host's facts.
import Engine
import Foundation
import Testing

@testable import dmfltd

@Suite struct HostRoutesTests {
    @Test func healthHostAndHosts() async throws {
        let h = try APITestHarness()
        #expect(await h.call("GET", "/v1/health").object["status"] as? String == "ok")
        let host = await h.call("GET", "/v1/host")
        #expect(host.object["name"] as? String == "testhost")
        #expect(host.object["version"] as? String == "0.0.0-test")
        #expect(host.object["filterIoctl"] as? Bool == true)
        #expect(host.object["kernelRelease"] as? String == "6.1.0-test")
        #expect((host.object["filterTypes"] as? [[String: Any]])?.first?["version"] as? String == "1.0.0")
        #expect(host.object.keys.contains("reason"))
        let hosts = await h.call("GET", "/v1/hosts")
        #expect(hosts.items.count == 1)
        #expect(hosts.items.first?["self"] as? Bool == true)
        #expect(hosts.items.first?["status"] as? String == "up")
        #expect(hosts.items.first?["name"] as? String == "testhost")
    }

    /// The encoded answer is reused only while the probed facts are equal: a kernel that loses its
    /// filter IOCTL shows on the very next request, and comes back the same way.
    @Test func hostAnswerFollowsTheKernelAtOnce() async throws {
        let h = try APITestHarness()
        #expect(await h.call("GET", "/v1/host").object["filterIoctl"] as? Bool == true)
        #expect(await h.call("GET", "/v1/host").object["filterIoctl"] as? Bool == true)
        h.control.unavailable = true
        let gone = await h.call("GET", "/v1/host")
        #expect(gone.object["filterIoctl"] as? Bool == false)
        #expect((gone.object["reason"] as? String)?.isEmpty == false, "\(gone.object)")
        #expect((gone.object["filterTypes"] as? [Any])?.isEmpty == true)
        h.control.unavailable = false
        let back = await h.call("GET", "/v1/host")
        #expect(back.object["filterIoctl"] as? Bool == true)
        #expect(back.object["reason"] is NSNull)
    }

    @Test func filtersSayWhichTypesTheKernelHasLoaded() async throws {
        let h = try APITestHarness()
        let r = await h.call("GET", "/v1/filters")
        let loaded = Dictionary(uniqueKeysWithValues: r.items.map { ($0["name"] as! String, $0["loaded"] as! Bool) })
        #expect(loaded == ["stat": true, "guard": false])
    }

    @Test func devicesListTheirAttachments() async throws {
        let h = try APITestHarness()
        #expect(await h.attach("s").status == 201)
        let r = await h.call("GET", "/v1/hosts/testhost/devices")
        #expect(r.items.map { $0["name"] as? String } == ["loop0", "loop1"])
        #expect(r.items.first?["attachments"] as? [String] == ["s"])
        #expect(r.items.first?["size"] as? Int == 1 << 26)
        #expect(r.items.first?["dev"] as? String == "7:0")
        #expect(r.items.last?["attachments"] as? [String] == [])
    }
}
