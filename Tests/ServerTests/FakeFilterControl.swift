// FakeFilterControl: an in-memory stand-in for the kernel's filter IOCTL, for unit tests only.
import Engine
import Foundation

@testable import dmfltd

final class FakeFilterControl: FilterControl, @unchecked Sendable {
    private let lock = NSLock()
    private var _attachments: [KernelAttachment] = []
    private var _attachCalls = 0
    private var _detachCalls = 0
    private var _unavailable = false
    private var _nextAttachError: FilterControlError.Kind?
    private var _nextDetachError: (FilterControlError.Kind, Int32)?
    private var _nextListError: (FilterControlError.Kind, Int32)?
    private var _options: [String: String] = [:]
    private var _cbt = FakeCbtMap()
    private var _detachDelay: Duration = .zero
    private var _detachThreads: [String] = []
    private var _cowState = "active"
    private var _cowImageOpen = false
    private var _mirrorState = "copying"
    private var _mirrorReleased = false
    private var _messages: [String] = []
    let types: [KernelFilterType] = [KernelFilterType(name: "stat", version: [1, 0, 0], attachments: 0)]

    var attachments: [KernelAttachment] { locked { _attachments } }
    var attachCalls: Int { locked { _attachCalls } }
    var detachCalls: Int { locked { _detachCalls } }
    var unavailable: Bool {
        get { locked { _unavailable } }
        set { locked { _unavailable = newValue } }
    }
    func failNextAttach(_ kind: FilterControlError.Kind) { locked { _nextAttachError = kind } }
    func failNextDetach(_ kind: FilterControlError.Kind, errno: Int32 = 99) {
        locked { _nextDetachError = (kind, errno) }
    }
    /// The next LIST fails (ENOMEM, EMFILE, a control device that would not reopen), then LIST works again.
    func failNextList(_ kind: FilterControlError.Kind, errno: Int32) { locked { _nextListError = (kind, errno) } }
    /// A detach that waits this long in the kernel, as one waiting for RCU and SRCU grace periods does.
    var detachDelay: Duration {
        get { locked { _detachDelay } }
        set { locked { _detachDelay = newValue } }
    }
    /// Where each detach ran: "kernel" on dmfltd's kernel call threads, else the thread's name.
    var detachThreads: [String] { locked { _detachThreads } }
    /// cow: its image is open (detach is EBUSY until `invalidate`), and its state.
    var cowImageOpen: Bool {
        get { locked { _cowImageOpen } }
        set { locked { _cowImageOpen = newValue } }
    }
    var cowState: String {
        get { locked { _cowState } }
        set { locked { _cowState = newValue } }
    }
    /// mirror: copying, synchronized (cutover is accepted), cutover (detach is EBUSY until release) or failed.
    var mirrorState: String {
        get { locked { _mirrorState } }
        set { locked { _mirrorState = newValue } }
    }
    /// Every message text sent, in order, as "FILTER TEXT".
    var messages: [String] { locked { _messages } }
    func kernelOptions(_ dev: DeviceNumber, _ filter: String) -> String? { locked { _options["\(dev)/\(filter)"] } }

    /// An attachment made by someone else (dmsetup, another tool).
    func attachOutside(_ dev: DeviceNumber, _ filter: String) {
        locked { _attachments.append(KernelAttachment(device: dev, filter: filter, attachedAt: Date())) }
    }
    /// An attachment removed by hand, or lost with its device.
    func removeOutside(_ dev: DeviceNumber, _ filter: String) {
        locked { _attachments.removeAll { $0.device == dev && $0.filter == filter } }
    }

    /// A write the fake cbt sees on its 16 MiB device of 64 KiB blocks.
    func cbtWrite(block: Int) { locked { _cbt.write(block: block) } }
    /// What the kernel does on resize, reset or a re-attach: a new generation, map cleared.
    func cbtNewGeneration() { locked { _cbt = FakeCbtMap() } }
    var cbtGeneration: String { locked { _cbt.generation } }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func error(
        _ kind: FilterControlError.Kind, _ op: String, _ dev: DeviceNumber? = nil, errno: Int32 = 99
    ) -> FilterControlError {
        FilterControlError(
            kind: kind, operation: op, device: dev, errno: errno, description: "\(op) failed: \(kind.rawValue)")
    }

    func listTypes() throws(FilterControlError) -> [KernelFilterType] {
        if unavailable { throw error(.ioctlUnavailable, "list-types") }
        return types
    }

    func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError) {
        lock.lock()
        defer { lock.unlock() }
        _attachCalls += 1
        if _unavailable { throw error(.ioctlUnavailable, "attach", device) }
        if let kind = _nextAttachError {
            _nextAttachError = nil
            throw error(kind, "attach", device)
        }
        if !["stat", "guard", "cbt", "cow", "mirror"].contains(filter) {
            throw error(.noSuchFilterType, "attach", device)
        }
        if _attachments.contains(where: { $0.device == device && $0.filter == filter }) {
            throw error(.alreadyAttached, "attach", device)
        }
        _attachments.append(KernelAttachment(device: device, filter: filter, attachedAt: Date()))
        _options["\(device)/\(filter)"] = options
        if filter == "cbt" { _cbt = FakeCbtMap() }
        if filter == "cow" { (_cowState, _cowImageOpen) = ("active", false) }
        if filter == "mirror" { (_mirrorState, _mirrorReleased) = ("copying", false) }
    }

    func detach(device: DeviceNumber, filter: String) throws(FilterControlError) {
        let delay = detachDelay
        let thread = KernelCallThreads.onKernelThread ? "kernel" : (Thread.current.name ?? "unnamed")
        locked { _detachThreads.append(thread) }
        if delay > .zero {
            Thread.sleep(
                forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
        }
        lock.lock()
        defer { lock.unlock() }
        _detachCalls += 1
        if _unavailable { throw error(.ioctlUnavailable, "detach", device, errno: ENOTTY) }
        if let (kind, errno) = _nextDetachError {
            _nextDetachError = nil
            throw error(kind, "detach", device, errno: errno)
        }
        guard let i = _attachments.firstIndex(where: { $0.device == device && $0.filter == filter }) else {
            throw error(.notAttached, "detach", device)
        }
        if filter == "cow" && _cowImageOpen && _cowState != "failed" {
            throw error(.busy, "detach", device, errno: EBUSY)
        }
        if filter == "mirror" && _mirrorState == "cutover" && !_mirrorReleased {
            throw error(.busy, "detach", device, errno: EBUSY)
        }
        _attachments.remove(at: i)
    }

    func listAttachments() throws(FilterControlError) -> [KernelAttachment] {
        if unavailable { throw error(.ioctlUnavailable, "list", errno: ENOTTY) }
        if let (kind, errno) = locked({ () -> (FilterControlError.Kind, Int32)? in
            defer { _nextListError = nil }
            return _nextListError
        }) {
            throw error(kind, "list", errno: errno)
        }
        return attachments
    }

    func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus {
        guard let a = attachments.first(where: { $0.device == device && $0.filter == filter }) else {
            throw error(.notAttached, "status", device)
        }
        if filter == "guard" {
            return KernelAttachmentStatus(
                attachment: a,
                text: KernelStatusText.guardLine(
                    ranges: "0+1048576", events: 2, denied: ["write": (2, 8192)]))
        }
        if filter == "cbt" { return KernelAttachmentStatus(attachment: a, text: locked { _cbt.statusLine }) }
        if filter == "mirror" {
            return KernelAttachmentStatus(attachment: a, text: KernelStatusText.mirror(state: locked { _mirrorState }))
        }
        if filter == "cow" {
            let (state, open) = locked { (_cowState, _cowImageOpen) }
            return KernelAttachmentStatus(
                attachment: a, text: KernelStatusText.cow(state: state, openers: open ? 1 : 0))
        }
        var c = BioCounters()
        c.writeBios = 100
        c.writeBytes = 409600
        return KernelAttachmentStatus(attachment: a, text: KernelStatusText.stat(c))
    }

    /// guard's "events SINCE": two write denials, sequence 1 and 2, of which those after SINCE.
    func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> KernelQueryReply {
        guard attachments.contains(where: { $0.device == device && $0.filter == filter }) else {
            throw error(.notAttached, "query", device)
        }
        let words = text.split(separator: " ")
        if filter == "cbt" {
            guard let answer = locked({ _cbt.query(text) }) else { throw error(.invalid, "query", device) }
            return answer
        }
        guard filter == "guard", words.first == "events", let since = UInt64(words.count > 1 ? words[1] : "0") else {
            throw error(.invalid, "query", device)
        }
        let all: [(seq: UInt64, timeNs: UInt64, offset: UInt64, length: UInt32, op: UInt8, verdict: UInt8)] = [
            (1, 1_700_000_000_000_000_000, 0, 4096, 1, 0), (2, 1_700_000_001_000_000_000, 8192, 4096, 1, 0),
        ]
        return KernelStatusText.guardEvents(total: 2, dropped: 0, events: all.filter { $0.seq > since })
    }

    func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String {
        guard attachments.contains(where: { $0.device == device && $0.filter == filter }) else {
            throw error(.notAttached, "message", device)
        }
        locked { _messages.append("\(filter) \(text)") }
        if filter == "cow" {
            guard text == "invalidate" else { throw error(.invalid, "message", device) }
            locked { _cowState = "failed" }
            return ""
        }
        if filter == "cbt" {
            guard let reply = locked({ _cbt.message(text) }) else { throw error(.invalid, "message", device) }
            return reply
        }
        if filter == "mirror" {
            lock.lock()
            defer { lock.unlock() }
            switch text {
            case "cutover" where _mirrorState == "synchronized": _mirrorState = "cutover"
            case "cutover": throw error(.busy, "message", device, errno: EBUSY)
            case "release": _mirrorReleased = true
            default: throw error(.invalid, "message", device)
            }
            return ""
        }
        if text != "reset" { throw error(.invalid, "message", device) }
        return "ok"
    }
}
