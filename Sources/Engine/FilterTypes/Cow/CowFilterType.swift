// CowFilterType: the `cow` filter: a backup-on-write snapshot of a device in use, its diff storage and its image device.
import Foundation

public struct CowFilterType: FilterType {
    public init() {}

    public static let minimumChunk: Int64 = 64 << 10
    public static let maximumChunk: Int64 = 16 << 20

    public let spec = FilterTypeSpec(
        name: "cow",
        summary:
            "Backup-on-write snapshot: attaching takes a point-in-time image of the device (a mounted filesystem is frozen for the instant). The first write to each chunk afterwards copies the chunk's old data to the diff storage. The image is a read-only block device (status.filter.image) and GET .../image. When the diff storage is full or fails, the snapshot fails and the device keeps working untouched.",
        options: [
            FilterOptionSpec(
                name: "diff-storage", kind: .path,
                summary:
                    "Where old data goes: a block device, or a regular file on another device (created with the size diff-storage-limit gives, or reused when it exists and is empty; removed at detach when dmflt created it). Never on the snapshotted device itself.",
                defaultValue: nil, scope: .daemon),
            FilterOptionSpec(
                name: "diff-storage-limit", kind: .size,
                summary:
                    "The most diff storage the snapshot may use, at least one chunk. Required for a file (its size); for a block device the default is its size.",
                defaultValue: nil, scope: .kernel, minimum: minimumChunk, alignment: 512, optional: true),
            FilterOptionSpec(
                name: "chunk-size", kind: .size,
                summary: "The copy-on-write unit: a power of two from 64K to 16M.",
                defaultValue: .int(minimumChunk), scope: .kernel, minimum: minimumChunk, maximum: maximumChunk,
                powerOfTwo: true),
        ],
        attachOnce: true,
        stores: [FilterStoreSpec(option: "diff-storage", sizeOption: "diff-storage-limit")],
        forceDetach: .init(
            busy: "its image is open (mounted, or being read)",
            message: "invalidate"))

    public var operations: [FilterTypeOperation] { [CowImage.operation, CowEvents.operation] }

    public func check(options: [String: OptionValue]) throws(CatalogError) {
        guard case .int(let limit) = options["diff-storage-limit"], case .int(let chunk) = options["chunk-size"]
        else { return }
        if limit < chunk {
            throw .invalid(
                filter: spec.name, option: "diff-storage-limit",
                reason: "\(limit) is below one chunk (chunk-size \(chunk))")
        }
    }

    public static let states = ["active", "overflowed", "failed"]
    public static let errors = [
        "none", "diff-storage-full", "diff-storage-write-failed", "device-read-failed", "out-of-memory",
        "invalidated",
    ]

    public func status(text: String) throws(FilterStatusError) -> FilterStatus {
        let words = try StatusWords(text, filter: spec.name)
        let state = try words.string("state")
        guard Self.states.contains(state) else {
            throw FilterStatusError(filter: spec.name, reason: "state '\(state)' is not one cow gives")
        }
        let error = try words.string("error")
        guard Self.errors.contains(error) else {
            throw FilterStatusError(filter: spec.name, reason: "error '\(error)' is not one cow gives")
        }
        let image = try words.string("image")
        let limit = try words.uint64("diff_storage_limit")
        let used = try words.uint64("diff_storage_used")
        let copied = try words.uint64("copied_chunks")
        let cbtSequence = try words.string("cbt_sequence")
        let cbtGeneration = try words.string("cbt_generation")
        var fields: [String: JSONValue] = [
            "state": .string(state),
            "takenAt": .string(KernelTime.rfc3339(nanoseconds: try words.uint64("taken_at"))),
            "chunkSize": .int(Int64(clamping: try words.uint64("chunk_size"))),
            "deviceSize": .int(Int64(clamping: try words.uint64("device_size"))),
            "chunks": .int(Int64(clamping: try words.uint64("chunks"))),
            "copiedChunks": .int(Int64(clamping: copied)),
            "diffStorage": .object([
                "device": .string(try words.string("diff_storage")),
                "limit": .int(Int64(clamping: limit)),
                "used": .int(Int64(clamping: used)),
            ]),
            "image": image == "none" ? .null : .string(image),
            "imageDevice": image == "none" ? .null : .string(try words.string("image_dev")),
            "imageOpeners": .int(Int64(clamping: try words.uint64("image_openers"))),
            "error": error == "none" ? .null : .string(error),
        ]
        let events = try CowEvents.events(statusText: text)
        func time(_ sequence: UInt64) -> JSONValue {
            events.first { $0.sequence == sequence }.map { .string(KernelTime.rfc3339(nanoseconds: $0.nanoseconds)) }
                ?? .null
        }
        if case .object(var diff) = fields["diffStorage"] {
            diff["warnedAt"] = time(2)
            fields["diffStorage"] = .object(diff)
        }
        fields["stoppedAt"] = time(3)
        if cbtSequence == "none" {
            fields["cbtSequence"] = .null
        } else {
            guard let n = UInt64(cbtSequence) else {
                throw FilterStatusError(filter: spec.name, reason: "cbt_sequence '\(cbtSequence)' is not a count")
            }
            fields["cbtSequence"] = .int(Int64(clamping: n))
        }
        if cbtGeneration == "none" {
            fields["cbtGeneration"] = .null
        } else {
            guard UUID(uuidString: cbtGeneration) != nil else {
                throw FilterStatusError(filter: spec.name, reason: "cbt_generation '\(cbtGeneration)' is not a UUID")
            }
            fields["cbtGeneration"] = .string(cbtGeneration)
        }
        var metrics = Self.states.map { s in
            FilterMetric(
                name: "state", help: "The snapshot's state: 1 for the current one.", kind: .gauge,
                labels: [FilterMetric.Label("state", s)], value: s == state ? 1 : 0)
        }
        metrics += [
            FilterMetric(
                name: "diff_storage_used_bytes", help: "Diff storage the snapshot uses.", kind: .gauge,
                value: Double(used)),
            FilterMetric(
                name: "diff_storage_limit_bytes", help: "Diff storage the snapshot may use.", kind: .gauge,
                value: Double(limit)),
            FilterMetric(
                name: "copied_chunks", help: "Chunks whose old data was copied to the diff storage.", kind: .gauge,
                value: Double(copied)),
        ]
        return FilterStatus(fields: fields, metrics: metrics)
    }
}
