// ServiceNotifierTests: sd_notify messages as systemd reads them, $NOTIFY_SOCKET parsing, and delivery to a socket bound here.
import Foundation
import Testing

@testable import dmfltd

@Suite struct ServiceNotifierTests {
    @Test func messagesAreNewlineSeparatedAssignments() {
        #expect(
            ServiceNotification.ready(status: "serving http://127.0.0.1:7450").text
                == "READY=1\nSTATUS=serving http://127.0.0.1:7450\n")
        #expect(
            ServiceNotification.reloading(status: "reloading", monotonicMicroseconds: 1_234_567).text
                == "RELOADING=1\nMONOTONIC_USEC=1234567\nSTATUS=reloading\n")
        #expect(ServiceNotification.stopping(status: "stopping").text == "STOPPING=1\nSTATUS=stopping\n")
    }

    /// A newline in a status (an error message quoting a file) must not become an assignment of its own.
    @Test func aStatusStaysOneLine() {
        let text = ServiceNotification.ready(status: "failed:\nREADY=0\r\nx").text
        #expect(text == "READY=1\nSTATUS=failed: READY=0  x\n")
    }

    @Test func reloadingCarriesTheMonotonicClock() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let before = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        guard case .reloading(_, let usec) = ServiceNotification.reloading(status: "r") else {
            Issue.record("not a reloading message")
            return
        }
        #expect(usec >= before && usec < before + 10_000_000)
    }

    @Test func addressesArePathsOrAbstractNames() {
        #expect(NotifySocketAddress("/run/systemd/notify")?.path == Array("/run/systemd/notify".utf8))
        #expect(NotifySocketAddress("/run/systemd/notify")?.isAbstract == false)
        #expect(NotifySocketAddress("@sd-notify/1")?.path == [0] + Array("sd-notify/1".utf8))
        #expect(NotifySocketAddress("@sd-notify/1")?.isAbstract == true)
        for refused in ["", "@", "/", "relative/notify", "vsock:2:1234", "/with\0nul"] {
            #expect(NotifySocketAddress(refused) == nil, "\(refused.debugDescription)")
        }
        // sun_path is 108 bytes: a path needs its NUL, an abstract name does not.
        #expect(NotifySocketAddress("/" + String(repeating: "p", count: 106)) != nil)
        #expect(NotifySocketAddress("/" + String(repeating: "p", count: 107)) == nil)
        #expect(NotifySocketAddress("@" + String(repeating: "a", count: 107)) != nil)
        #expect(NotifySocketAddress("@" + String(repeating: "a", count: 108)) == nil)
    }

    @Test func withoutNotifySocketNothingIsSent() {
        #expect(ServiceNotifier(environment: [:]).address == nil)
        #expect(ServiceNotifier(environment: [:]).send(.ready(status: "x")) == false)
        #expect(ServiceNotifier(environment: ["NOTIFY_SOCKET": "relative"]).address == nil)
    }

    @Test func aDatagramReachesASocketBoundToAPath() throws {
        let path = NSTemporaryDirectory() + "dmflt-notify-\(UUID().uuidString.prefix(8))"
        defer { unlink(path) }
        let receiver = try DatagramReceiver(NotifySocketAddress(path)!)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.send(.ready(status: "serving http://127.0.0.1:1")))
        #expect(try receiver.next() == "READY=1\nSTATUS=serving http://127.0.0.1:1\n")
        #expect(notifier.send(.stopping(status: "stopping")))
        #expect(try receiver.next() == "STOPPING=1\nSTATUS=stopping\n")
    }

    @Test func aDatagramReachesAnAbstractName() throws {
        let name = "@dmflt-notify-test-\(UUID().uuidString)"
        let receiver = try DatagramReceiver(NotifySocketAddress(name)!)
        #expect(ServiceNotifier(environment: ["NOTIFY_SOCKET": name]).send(.ready(status: "abstract")))
        #expect(try receiver.next() == "READY=1\nSTATUS=abstract\n")
    }

    @Test func aSocketNobodyListensOnIsAFailureNotACrash() {
        let path = NSTemporaryDirectory() + "dmflt-notify-nobody-\(UUID().uuidString.prefix(8))"
        #expect(ServiceNotifier(environment: ["NOTIFY_SOCKET": path]).send(.ready(status: "x")) == false)
    }
}

/// An AF_UNIX datagram socket bound where a service manager would listen.
private final class DatagramReceiver {
    let fd: Int32

    init(_ address: NotifySocketAddress) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard bound == 0 else { throw TestFailure("bind: \(String(cString: strerror(errno)))") }
    }

    func next() throws -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        guard n >= 0 else { throw TestFailure("recv: \(String(cString: strerror(errno)))") }
        return String(decoding: buffer.prefix(n), as: UTF8.self)
    }

    deinit { close(fd) }
}
