// CowFilterTypeTests: cow's options and their cross-checks, its status as status.filter and metrics, and the image operation.
import Foundation
import Testing

@testable import Engine

@Suite struct CowFilterTypeTests {
    let cow = CowFilterType()
    let dev = DeviceNumber(major: 7, minor: 0)
    static let generation = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f1"

    static func line(_ extra: [String: String] = [:]) -> String {
        let words: [(String, String)] = [
            ("state", "active"), ("taken_at", "1700000000500000000"), ("chunk_size", "65536"),
            ("device_size", "67108864"), ("chunks", "1024"), ("copied_chunks", "10"), ("diff_storage", "7:9"),
            ("diff_storage_limit", "16777216"), ("diff_storage_used", "655360"), ("image", "dmflt-cow-3"),
            ("image_dev", "252:3"), ("image_openers", "1"), ("cbt_sequence", "none"), ("cbt_generation", "none"),
            ("error", "none"), ("warned_at", "none"), ("stopped_at", "none"),
        ]
        return words.map { "\($0.0)=\(extra[$0.0] ?? $0.1)" }.joined(separator: " ")
    }

    /// Answers STATUS with a fixed line; nothing else is called by the image operation.
    struct StatusControl: FilterControl {
        var text: String
        func listTypes() throws(FilterControlError) -> [KernelFilterType] { [] }
        func attach(device: DeviceNumber, filter: String, options: String) throws(FilterControlError) {}
        func detach(device: DeviceNumber, filter: String) throws(FilterControlError) {}
        func listAttachments() throws(FilterControlError) -> [KernelAttachment] { [] }
        func status(device: DeviceNumber, filter: String) throws(FilterControlError) -> KernelAttachmentStatus {
            KernelAttachmentStatus(
                attachment: KernelAttachment(device: device, filter: filter, attachedAt: Date()), text: text)
        }
        func message(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> String { "" }
        func query(device: DeviceNumber, filter: String, text: String) throws(FilterControlError) -> KernelQueryReply {
            KernelQueryReply(count: 0, payload: [])
        }
    }

    @Test func diffStorageIsTheDaemonsAndTheKernelGetsSizes() throws {
        let v = try FilterCatalog.standard.validate(
            filter: "cow",
            options: [
                "diff-storage": .string("/srv/diff"), "diff-storage-limit": .string("64M"), "chunk-size": .string("1M"),
            ])
        // The path is prepared by the daemon and reaches the kernel as MAJOR:MINOR, not here.
        #expect(v.kernelText == "diff-storage-limit=67108864 chunk-size=1048576")
        #expect(v.values["diff-storage"] == .string("/srv/diff"))
        let defaults = try FilterCatalog.standard.validate(
            filter: "cow", options: ["diff-storage": .string("/dev/sdb")])
        #expect(defaults.kernelText == "chunk-size=65536")
        #expect(cow.spec.attachOnce)
        #expect(cow.spec.stores == [FilterStoreSpec(option: "diff-storage", sizeOption: "diff-storage-limit")])
        #expect(cow.spec.forceDetach?.message == "invalidate")
    }

    @Test func hostileOptionsAreRefusedBeforeAnythingHappens() {
        let bad: [[String: OptionValue]] = [
            [:],  // no diff storage
            ["diff-storage": .string("diff")],  // relative
            ["diff-storage": .string("/srv/../etc/diff")],
            ["diff-storage": .string("/srv/diff"), "chunk-size": .int(96 << 10)],  // not a power of two
            ["diff-storage": .string("/srv/diff"), "chunk-size": .int(32 << 10)],
            ["diff-storage": .string("/srv/diff"), "chunk-size": .string("32M")],
            ["diff-storage": .string("/srv/diff"), "diff-storage-limit": .int(4096)],
            ["diff-storage": .string("/srv/diff"), "diff-storage-limit": .string("1M"), "chunk-size": .string("2M")],
            ["diff-storage": .string("/srv/diff"), "snapshot": .bool(true)],
        ]
        for options in bad {
            #expect(throws: CatalogError.self, "\(options)") {
                try FilterCatalog.standard.validate(filter: "cow", options: options)
            }
        }
        #expect(
            throws: CatalogError.invalid(
                filter: "cow", option: "diff-storage-limit", reason: "1048576 is below one chunk (chunk-size 2097152)")
        ) {
            try FilterCatalog.standard.validate(
                filter: "cow",
                options: [
                    "diff-storage": .string("/d"), "diff-storage-limit": .string("1M"), "chunk-size": .string("2M"),
                ])
        }
    }

    @Test func statusBecomesFieldsAndTheStateIsAZeroOneGaugeSet() throws {
        let s = try cow.status(text: Self.line())
        #expect(
            s.fields == [
                "state": .string("active"), "takenAt": .string("2023-11-14T22:13:20.500Z"), "chunkSize": .int(65536),
                "deviceSize": .int(67_108_864), "chunks": .int(1024), "copiedChunks": .int(10),
                "diffStorage": .object([
                    "device": .string("7:9"), "limit": .int(16_777_216), "used": .int(655360), "warnedAt": .null,
                ]),
                "image": .string("dmflt-cow-3"), "imageDevice": .string("252:3"), "imageOpeners": .int(1),
                "cbtSequence": .null, "cbtGeneration": .null, "error": .null, "stoppedAt": .null,
            ])
        #expect(
            s.metrics.map { "\($0.name)\($0.labels.map { "{\($0.value)}" }.joined()) \($0.value)" } == [
                "state{active} 1.0", "state{overflowed} 0.0", "state{failed} 0.0",
                "diff_storage_used_bytes 655360.0", "diff_storage_limit_bytes 16777216.0", "copied_chunks 10.0",
            ])
        let withCbt = try cow.status(
            text: Self.line([
                "cbt_sequence": "4", "cbt_generation": Self.generation, "state": "overflowed",
                "error": "diff-storage-full", "image": "none",
            ]))
        #expect(withCbt.fields["cbtSequence"] == .int(4))
        #expect(withCbt.fields["cbtGeneration"] == .string(Self.generation))
        #expect(withCbt.fields["error"] == .string("diff-storage-full"))
        #expect(withCbt.fields["image"] == .null && withCbt.fields["imageDevice"] == .null)
    }

    @Test func aStatusWithAnUnknownStateOrOddWordIsAnError() {
        for bad in [
            ["state": "paused"], ["error": "disk-on-fire"], ["cbt_sequence": "x"], ["cbt_generation": "nope"],
            ["copied_chunks": "-1"], ["warned_at": "soon"], ["stopped_at": ""],
        ] {
            #expect(throws: FilterStatusError.self, "\(bad)") { try cow.status(text: Self.line(bad)) }
        }
        #expect(throws: FilterStatusError.self) { try cow.status(text: "state=active") }
    }

    @Test func theImageIsTheImageDeviceWhileActiveAndRefusedOtherwise() throws {
        let op = try #require(cow.operation(named: "image", method: "GET"))
        #expect(cow.operation(named: "image", method: "HEAD") != nil)
        func call(_ line: String) -> FilterOperationCall {
            FilterOperationCall(device: dev, filter: "cow", query: [:], body: nil, control: StatusControl(text: line))
        }
        let answer = try op.handler(call(Self.line()))
        #expect(
            answer.file
                == FileBody(path: "/dev/dmflt-cow-3", size: 67_108_864, contentType: "application/octet-stream"))
        for (state, why) in [("overflowed", "diff-storage-full"), ("failed", "invalidated")] {
            do {
                _ = try op.handler(call(Self.line(["state": state, "error": why])))
                Issue.record("a \(state) snapshot's image was served")
            } catch {
                #expect(error.type == "image-unavailable" && error.status == 409)
                #expect(error.detail.contains("is \(state) (\(why))"), "\(error.detail)")
            }
        }
    }

    @Test func eventsAreTheTakeTheWarningAndTheStopInOrderAndWatchable() throws {
        let op = try #require(cow.operation(named: "events", method: "GET"))
        #expect(op.watch == WatchCursor(itemsKey: "items", cursorKey: "sequence", parameter: "since"))
        func items(_ line: String, since: String? = nil) throws -> [JSONValue] {
            let call = FilterOperationCall(
                device: dev, filter: "cow", query: since.map { ["since": $0] } ?? [:], body: nil,
                control: StatusControl(text: line))
            guard case .object(let o) = try op.handler(call).body, case .array(let list) = o["items"] else {
                return []
            }
            return list
        }
        #expect(
            try items(Self.line()) == [
                .object(["sequence": .int(1), "type": .string("taken"), "time": .string("2023-11-14T22:13:20.500Z")])
            ])
        let stopped = Self.line([
            "warned_at": "1700000060000000000", "stopped_at": "1700000120000000000", "state": "overflowed",
            "error": "diff-storage-full",
        ])
        #expect(
            try items(stopped, since: "1") == [
                .object([
                    "sequence": .int(2), "type": .string("diff-storage-80-percent"),
                    "time": .string("2023-11-14T22:14:20.000Z"), "limit": .int(16_777_216),
                ]),
                .object([
                    "sequence": .int(3), "type": .string("overflowed"), "time": .string("2023-11-14T22:15:20.000Z"),
                    "error": .string("diff-storage-full"),
                ]),
            ])
        #expect(try items(stopped, since: "3").isEmpty)
        let s = try cow.status(text: stopped)
        #expect(s.fields["stoppedAt"] == .string("2023-11-14T22:15:20.000Z"))
        guard case .object(let diff) = s.fields["diffStorage"] else {
            Issue.record("no diffStorage")
            return
        }
        #expect(diff["warnedAt"] == .string("2023-11-14T22:14:20.000Z"))
    }
}
