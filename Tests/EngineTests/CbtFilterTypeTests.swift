// CbtFilterTypeTests: cbt's options, its status as status.filter and metrics, marks, and the changes map in both forms.
import Foundation
import Testing

@testable import Engine

@Suite struct CbtFilterTypeTests {
    let cbt = CbtFilterType()
    static let generation = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"
    static let generationBytes: [UInt8] = [
        0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x49, 0x78, 0x86, 0x95, 0xa4, 0xb3, 0xc2, 0xd1, 0xe0, 0xf1,
    ]
    let dev = DeviceNumber(major: 7, minor: 0)

    static func line(_ extra: [String: String] = [:]) -> String {
        let words: [(String, String)] = [
            ("generation", generation), ("generation_reason", "attach"), ("generation_ns", "1700000000500000000"),
            ("sequence", "3"), ("block_size", "65536"), ("blocks", "257"), ("device_size", "16781312"),
            ("changed_blocks", "5"), ("memory_bytes", "329"), ("track_discards", "true"),
        ]
        return words.map { "\($0.0)=\(extra[$0.0] ?? $0.1)" }.joined(separator: " ")
    }

    /// The head record, then either extents (offset, length) or one map record.
    static func reply(
        sequence: UInt64 = 3, since: UInt64 = 0, blockSize: UInt64 = 65536, deviceSize: UInt64 = 16_781_312,
        extents: [(UInt64, UInt64)] = [], map: [UInt8]? = nil, generation: [UInt8] = generationBytes
    ) -> KernelQueryReply {
        var bytes = generation
        func put(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        let blocks = max(1, (deviceSize + blockSize - 1) / blockSize)
        for v in [sequence, since, blockSize, deviceSize, blocks, 1_700_000_000_500_000_000] { put(v) }
        if let map {
            bytes += map
            return KernelQueryReply(count: 2, payload: bytes)
        }
        for e in extents {
            put(e.0)
            put(e.1)
        }
        return KernelQueryReply(count: 1 + extents.count, payload: bytes)
    }

    /// A kernel that answers every query with `answer` and every message with `message`.
    func control(_ answer: KernelQueryReply, message: String = "") -> (FakeKernel, DMFilterControl) {
        let kernel = FakeKernel { request, buffer in
            if request.text == "mark" {
                KernelReply.write(buffer, op: request.message.op, count: 1, payload: Array(message.utf8) + [0])
            } else {
                KernelReply.write(buffer, op: request.message.op, count: answer.count, payload: answer.payload)
            }
            return 0
        }
        return (kernel, DMFilterControl(transport: kernel))
    }

    func call(_ control: any FilterControl, _ query: [String: String] = [:], accept: String? = nil)
        -> FilterOperationCall
    {
        FilterOperationCall(device: dev, filter: "cbt", query: query, body: nil, control: control, accept: accept)
    }

    @Test func optionsDefaultToTheKernelsBlockSizeRuleAndTrackDiscards() throws {
        let v = try FilterCatalog.standard.validate(filter: "cbt", options: [:])
        #expect(v.kernelText == "track-discards=true")
        let set = try FilterCatalog.standard.validate(
            filter: "cbt", options: ["block-size": .string("1M"), "track-discards": .bool(false)])
        #expect(set.kernelText == "block-size=1048576 track-discards=false")
    }

    @Test func blockSizesOutsideFourKToSixtyFourMOrNotPowersOfTwoAreRefused() {
        for bad: OptionValue in [.int(2048), .int(12288), .string("128M"), .int(0), .string("4Q"), .bool(true)] {
            #expect(throws: CatalogError.self) {
                try FilterCatalog.standard.validate(filter: "cbt", options: ["block-size": bad])
            }
        }
        #expect(throws: CatalogError.self) {
            try FilterCatalog.standard.validate(filter: "cbt", options: ["track-discards": .string("yes")])
        }
        #expect(throws: CatalogError.self) {
            try FilterCatalog.standard.validate(filter: "cbt", options: ["blocksize": .int(4096)])
        }
    }

    @Test func statusBecomesCamelCaseFieldsAndTwoGauges() throws {
        let s = try cbt.status(text: Self.line())
        #expect(
            s.fields == [
                "generation": .string(Self.generation), "generationReason": .string("attach"),
                "generationTime": .string("2023-11-14T22:13:20.500Z"), "sequence": .int(3), "blockSize": .int(65536),
                "blocks": .int(257), "deviceSize": .int(16_781_312), "changedBlocks": .int(5),
                "memoryBytes": .int(329), "trackDiscards": .bool(true),
            ])
        #expect(s.counters == nil)
        #expect(
            s.metrics.map { "\($0.name) \($0.kind) \($0.value)" } == ["changed_blocks gauge 5.0", "sequence gauge 3.0"])
    }

    @Test func aStatusWithAMissingOrOddWordIsAnError() {
        for bad in [
            ["generation": "nope"], ["generation_reason": "reboot"], ["track_discards": "1"], ["sequence": "-1"],
        ] {
            #expect(throws: FilterStatusError.self) { try cbt.status(text: Self.line(bad)) }
        }
        #expect(throws: FilterStatusError.self) { try cbt.status(text: "generation=\(Self.generation)") }
    }

    @Test func marksSendTheMarkMessageAndAnswer201() throws {
        let op = try #require(cbt.operation(named: "marks", method: "POST"))
        let (kernel, control) = control(
            Self.reply(), message: "generation=\(Self.generation) sequence=4 time=1700000000500000000")
        let result = try op.handler(call(control))
        #expect(kernel.requests.first?.text == "mark")
        #expect(result.status == 201)
        #expect(
            result.body
                == .object([
                    "generation": .string(Self.generation), "sequence": .int(4),
                    "time": .string("2023-11-14T22:13:20.500Z"),
                ]))
        let (_, odd) = self.control(Self.reply(), message: "sequence=4")
        #expect(throws: FilterOperationError.self) { _ = try op.handler(call(odd)) }
        var withBody = call(control)
        withBody.body = .object(["label": .string("x")])
        #expect(throws: FilterOperationError.self) { _ = try op.handler(withBody) }
    }

    @Test func changesAsksTheKernelForExtentsSinceAndAnswersThemInBytes() throws {
        let op = try #require(cbt.operation(named: "changes", method: "GET"))
        let (kernel, control) = control(
            Self.reply(since: 2, extents: [(0, 196_608), (655_360, 65536), (16_777_216, 4096)]))
        let result = try op.handler(call(control, ["since": "2", "generation": Self.generation.uppercased()]))
        #expect(kernel.requests.first?.text == "changes 2")
        let raw = try #require(result.raw)
        #expect(raw.contentType == "application/json")
        let body = try JSONDecoder().decode(JSONValue.self, from: Data(raw.bytes))
        #expect(raw.bytes == body.serialized(), "keys sorted, as every answer has them")
        #expect(
            body
                == .object([
                    "generation": .string(Self.generation), "sequence": .int(3), "since": .int(2),
                    "blockSize": .int(65536), "deviceSize": .int(16_781_312),
                    "extents": .array([
                        .object(["offset": .int(0), "length": .int(196_608)]),
                        .object(["offset": .int(655_360), "length": .int(65536)]),
                        .object(["offset": .int(16_777_216), "length": .int(4096)]),
                    ]),
                ]))
        _ = try op.handler(call(control))
        #expect(kernel.requests.last?.text == "changes 0")
    }

    @Test func anotherGenerationIs409AndASinceAheadOfTheSequenceIs400() throws {
        let op = try #require(cbt.operation(named: "changes", method: "GET"))
        let (_, control) = control(Self.reply())
        do {
            _ = try op.handler(call(control, ["generation": "11111111-2222-4333-8444-555555555555"]))
            Issue.record("a stale generation was answered")
        } catch {
            #expect(error.type == "generation-changed")
            #expect(error.status == 409)
        }
        do {
            _ = try op.handler(call(control, ["since": "4"]))
            Issue.record("since 4 at sequence 3 was answered")
        } catch {
            #expect(error.type == "invalid-value")
        }
        #expect(throws: FilterOperationError.self) { _ = try op.handler(call(control, ["generation": "g1"])) }
        #expect(throws: FilterOperationError.self) { _ = try op.handler(call(control, ["since": "x"])) }
    }

    @Test func badExtentRecordsAreRefused() throws {
        let op = try #require(cbt.operation(named: "changes", method: "GET"))
        for extents: [(UInt64, UInt64)] in [[(65536, 0)], [(65536, 65536), (0, 65536)], [(16_777_216, 8192)]] {
            let (_, control) = control(Self.reply(extents: extents))
            #expect(throws: FilterOperationError.self) { _ = try op.handler(call(control)) }
        }
        var short = Self.reply(extents: [(0, 4096)])
        short.payload.removeLast()
        let (_, control) = control(short)
        #expect(throws: FilterOperationError.self) { _ = try op.handler(call(control)) }
        let (_, badHead) = self.control(Self.reply(blockSize: 1000))
        #expect(throws: FilterOperationError.self) { _ = try op.handler(call(badHead)) }
    }

    @Test func octetStreamIsTheCompactBitmapOfTheKernelsMapThroughBufferFullRetries() throws {
        let op = try #require(cbt.operation(named: "changes", method: "GET"))
        // 1 TiB at 512 KiB: 2097152 blocks, a 2 MiB map the first buffer cannot hold
        var map = [UInt8](repeating: 0, count: 2_097_152)
        map[0] = 1
        map[9] = 3
        map[10] = 2
        map[2_097_151] = 4
        let (kernel, control) = control(
            Self.reply(sequence: 4, blockSize: 512 << 10, deviceSize: 1 << 40, map: map))
        let result = try op.handler(call(control, ["since": "2"], accept: "application/octet-stream"))
        #expect(kernel.requests.count >= 2)
        #expect(kernel.requests.allSatisfy { $0.text == "map" })
        let raw = try #require(result.raw)
        #expect(raw.contentType == "application/octet-stream")
        #expect(raw.bytes.count == 64 + 2_097_152 / 8)
        #expect(Array(raw.bytes[0..<8]) == Array("DMFLTCBT".utf8))
        #expect(Array(raw.bytes[8..<24]) == Self.generationBytes)
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(raw.bytes[at + $1]) << (8 * $1) } }
        #expect([u64(24), u64(32), u64(40), u64(48), u64(56)] == [4, 2, 512 << 10, 1 << 40, 2_097_152])
        let bits = raw.bytes[64...]
        #expect(
            bits.enumerated().filter { $0.element != 0 }.map { "\($0.offset):\($0.element)" } == ["1:2", "262143:128"])
        // JSON stays the answer for */* and for JSON
        let (_, extents) = self.control(Self.reply(extents: [(0, 4096)]))
        let json = try op.handler(call(extents, accept: "application/json, */*"))
        #expect(json.raw?.contentType == "application/json")
    }
}
