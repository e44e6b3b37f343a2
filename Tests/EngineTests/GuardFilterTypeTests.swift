// GuardFilterTypeTests: guard's options, its status line as status.filter and metrics, and its event records.
import Foundation
import Testing

@testable import Engine

@Suite struct GuardFilterTypeTests {
    let guardType = GuardFilterType()

    func line(_ extra: [String: String] = [:]) -> String {
        var words: [(String, String)] = [
            ("mode", "read-only"), ("error", "eio"), ("ranges", "all"), ("events", "3"), ("dropped", "1"),
        ]
        for prefix in ["denied", "audited"] {
            for op in ["read", "write", "discard", "write_zeroes", "flush"] {
                words.append(("\(prefix)_\(op)_bios", "0"))
                words.append(("\(prefix)_\(op)_bytes", "0"))
            }
        }
        return words.map { "\($0.0)=\(extra[$0.0] ?? $0.1)" }.joined(separator: " ")
    }

    @Test func optionsHaveTheDocumentedDefaultsAndKernelWords() throws {
        let v = try FilterCatalog.standard.validate(filter: "guard", options: [:])
        #expect(v.kernelText == "mode=read-only error=eio")
        let ranged = try FilterCatalog.standard.validate(
            filter: "guard",
            options: ["mode": .string("deny"), "ranges": .string("4096+4096"), "error": .string("target")])
        #expect(ranged.kernelText == "mode=deny ranges=4096+4096 error=target")
    }

    @Test func badModesErrorsAndRangesAreRefused() {
        #expect(throws: CatalogError.self) {
            try FilterCatalog.standard.validate(filter: "guard", options: ["mode": .string("ro")])
        }
        #expect(throws: CatalogError.self) {
            try FilterCatalog.standard.validate(filter: "guard", options: ["error": .string("eperm")])
        }
        #expect(throws: CatalogError.self) {
            try FilterCatalog.standard.validate(filter: "guard", options: ["ranges": .string("1+511")])
        }
    }

    @Test func statusBecomesCamelCaseFieldsWithDenialsPerOperation() throws {
        let s = try guardType.status(
            text: line([
                "ranges": "0+4096,1048576+8192", "denied_write_bios": "7", "denied_write_bytes": "28672",
                "denied_write_zeroes_bios": "1", "denied_write_zeroes_bytes": "65536",
            ]))
        #expect(s.fields["mode"] == .string("read-only"))
        #expect(s.fields["wholeDevice"] == .bool(false))
        #expect(
            s.fields["ranges"]
                == .array([
                    .object(["offset": .int(0), "length": .int(4096)]),
                    .object(["offset": .int(1_048_576), "length": .int(8192)]),
                ]))
        guard case .object(let denied) = s.fields["denied"] else {
            Issue.record("no denied object")
            return
        }
        #expect(denied["write"] == .object(["bios": .int(7), "bytes": .int(28672)]))
        #expect(denied["writeZeroes"] == .object(["bios": .int(1), "bytes": .int(65536)]))
        #expect(denied.keys.sorted() == ["discard", "flush", "read", "write", "writeZeroes"])
        #expect(s.fields["events"] == .object(["total": .int(3), "dropped": .int(1)]))
        #expect(s.counters == nil)
        let writes = s.metrics.first { $0.name == "denied_bios_total" && $0.labels == [.init("op", "write")] }
        #expect(writes?.value == 7)
        #expect(writes?.kind == .counter)
        #expect(s.metrics.filter { $0.name == "denied_bytes_total" }.count == 5)
    }

    @Test func aStatusMissingAWordIsAnErrorNotAGuess() {
        #expect(throws: FilterStatusError.self) { try guardType.status(text: "mode=deny error=eio") }
        #expect(throws: FilterStatusError.self) { try guardType.status(text: line(["denied_read_bios": "x"])) }
        // The catalog then falls back to the words as they are.
        let fallback = FilterCatalog.standard.status(filter: "guard", text: "mode=deny")
        #expect(fallback.fields == ["mode": .string("deny")])
    }

    func reply(total: UInt64, dropped: UInt64, _ events: [(UInt64, UInt64, UInt64, UInt32, UInt8, UInt8)])
        -> KernelQueryReply
    {
        var bytes: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        put(total)
        put(dropped)
        for e in events {
            put(e.0)
            put(e.1)
            put(e.2)
            put(e.3)
            put(e.4)
            put(e.5)
            put(UInt16(0))
        }
        return KernelQueryReply(count: 1 + events.count, payload: bytes)
    }

    @Test func eventRecordsDecodeOldestFirst() throws {
        let body = try GuardEvents.decode(
            reply(
                total: 300, dropped: 44,
                [(45, 1_700_000_000_500_000_000, 4096, 512, 1, 0), (46, 1_700_000_001_000_000_000, 0, 0, 4, 1)]))
        guard case .object(let o) = body, case .array(let items) = o["items"] else {
            Issue.record("no items")
            return
        }
        #expect(o["dropped"] == .int(44))
        #expect(o["total"] == .int(300))
        #expect(
            items.first
                == .object([
                    "sequence": .int(45), "time": .string("2023-11-14T22:13:20.500Z"), "op": .string("write"),
                    "offset": .int(4096), "length": .int(512), "verdict": .string("denied"),
                ]))
        if case .object(let second) = items.last {
            #expect(second["op"] == .string("flush"))
            #expect(second["verdict"] == .string("audited"))
        }
    }

    @Test func truncatedOrOddRecordsAreRefused() {
        var short = reply(total: 1, dropped: 0, [(1, 0, 0, 512, 1, 0)])
        short.payload.removeLast()
        #expect(throws: FilterOperationError.self) { try GuardEvents.decode(short) }
        #expect(throws: FilterOperationError.self) {
            try GuardEvents.decode(reply(total: 1, dropped: 0, [(1, 0, 0, 512, 9, 0)]))
        }
        #expect(throws: FilterOperationError.self) { try GuardEvents.decode(KernelQueryReply(count: 0, payload: [])) }
    }

    @Test func eventsPassesSinceToTheKernelAndDecodesItsAnswer() throws {
        let operation = try #require(guardType.operation(named: "events", method: "GET"))
        let answer = reply(total: 9, dropped: 0, [(9, 0, 512, 512, 0, 0)])
        let kernel = FakeKernel { request, buffer in
            KernelReply.write(buffer, op: request.message.op, count: answer.count, payload: answer.payload)
            return 0
        }
        let call = FilterOperationCall(
            device: DeviceNumber(major: 7, minor: 0), filter: "guard", query: ["since": "8"], body: nil,
            control: DMFilterControl(transport: kernel))
        let result = try operation.handler(call)
        #expect(kernel.requests.first?.text == "events 8")
        #expect(kernel.requests.first?.type == "guard")
        guard case .object(let o) = result.body, case .array(let items) = o["items"] else {
            Issue.record("no items")
            return
        }
        #expect(items.count == 1)
    }

    @Test func eventsRefusesABadSince() throws {
        let operation = try #require(guardType.operation(named: "events", method: "GET"))
        #expect(operation.watch?.cursorKey == "sequence")
        let call = FilterOperationCall(
            device: DeviceNumber(major: 7, minor: 0), filter: "guard", query: ["since": "-1"], body: nil,
            control: DMFilterControl(transport: FakeKernel { _, _ in EINVAL }))
        #expect(
            throws: FilterOperationError.invalidValue("The query parameter 'since' must be a non-negative integer.")
        ) {
            _ = try operation.handler(call)
        }
    }
}
