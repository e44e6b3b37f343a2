// OptionKindTests: the size, path, device and ranges option kinds are checked, normalized and written for the kernel.
import Foundation
import Testing

@testable import Engine

@Suite struct OptionKindTests {
    let catalog = FilterCatalog(types: [
        FilterTypeSpec(
            name: "kinds", summary: "test type",
            options: [
                FilterOptionSpec(
                    name: "chunk", kind: .size, summary: "", defaultValue: .int(65536), scope: .kernel, minimum: 4096,
                    maximum: 1 << 30, powerOfTwo: true),
                FilterOptionSpec(
                    name: "limit", kind: .size, summary: "", defaultValue: nil, scope: .kernel, alignment: 512,
                    optional: true),
                FilterOptionSpec(
                    name: "store", kind: .path, summary: "", defaultValue: nil, scope: .kernel, optional: true),
                FilterOptionSpec(
                    name: "target", kind: .device, summary: "", defaultValue: nil, scope: .kernel, optional: true),
                FilterOptionSpec(
                    name: "ranges", kind: .ranges, summary: "", defaultValue: nil, scope: .kernel, alignment: 512,
                    optional: true),
            ])
    ])

    func validate(_ options: [String: OptionValue]) throws(CatalogError) -> ValidatedOptions {
        try catalog.validate(filter: "kinds", options: options) { text throws(CatalogError) in
            if text == "/dev/loop1" { return DeviceNumber(major: 7, minor: 1) }
            throw .unresolvableDevice(option: "", text: text, reason: "no such device")
        }
    }

    func reason(_ options: [String: OptionValue]) -> String? {
        do {
            _ = try validate(options)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func sizesTakeSuffixesAndAreStoredInBytes() throws {
        let v = try validate(["chunk": .string("1M"), "limit": .string("2g")])
        #expect(v.values["chunk"] == .int(1 << 20))
        #expect(v.values["limit"] == .int(2 << 30))
        #expect(v.kernelText == "chunk=1048576 limit=2147483648")
        #expect(try validate(["chunk": .int(8192)]).values["chunk"] == .int(8192))
    }

    @Test func sizesOutOfBoundsUnalignedOrNotPowersOfTwoAreRefused() {
        #expect(reason(["chunk": .string("3K")])?.contains("is 3072 but must be at least 4096") == true)
        #expect(reason(["chunk": .string("96K")])?.contains("not a power of two") == true)
        #expect(reason(["chunk": .string("2T")])?.contains("at most") == true)
        #expect(reason(["limit": .int(1000)])?.contains("not a multiple of 512") == true)
        #expect(reason(["limit": .string("12Q")])?.contains("is not a size") == true)
        #expect(reason(["limit": .string("-1")])?.contains("is not a size") == true)
        #expect(reason(["limit": .string("99999999999999T")])?.contains("is not a size") == true)
        #expect(reason(["limit": .bool(true)])?.contains("must be a size, not a boolean") == true)
    }

    @Test func optionalOptionsLeftOutStayOutOfTheKernelText() throws {
        let v = try validate([:])
        #expect(v.kernelText == "chunk=65536")
        #expect(v.values.keys.sorted() == ["chunk"])
    }

    @Test func pathsMustBeAbsoluteWithoutDotComponents() throws {
        #expect(try validate(["store": .string("/var/lib/diff")]).kernelText.contains("store=/var/lib/diff"))
        #expect(reason(["store": .string("var/diff")])?.contains("not an absolute path") == true)
        #expect(reason(["store": .string("/var/../etc/diff")])?.contains("'..'") == true)
        #expect(reason(["store": .string("/var/my diff")])?.contains("printable ASCII") == true)
    }

    @Test func devicesReachTheKernelAsMajorMinor() throws {
        let v = try validate(["target": .string("/dev/loop1")])
        #expect(v.kernelText.contains("target=7:1"))
        #expect(v.values["target"] == .string("/dev/loop1"))
        #expect(
            reason(["target": .string("/dev/nope")])
                == "option 'target' names '/dev/nope', which is not a usable block device: no such device")
    }

    @Test func rangesAreSortedMergedAndChecked() throws {
        let v = try validate(["ranges": .string("1M+4K,0+512,512+512,1052672+4096")])
        #expect(v.values["ranges"] == .string("0+1024,1048576+8192"))
        #expect(v.kernelText.contains("ranges=0+1024,1048576+8192"))
        #expect(reason(["ranges": .string("100+512")])?.contains("not aligned") == true)
        #expect(reason(["ranges": .string("0+0")])?.contains("is empty") == true)
        #expect(reason(["ranges": .string("0-512")])?.contains("is not OFFSET+LENGTH") == true)
        #expect(reason(["ranges": .string("0+512,")])?.contains("is not OFFSET+LENGTH") == true)
        #expect(reason(["ranges": .string("")])?.contains("leave it out") == true)
        #expect(reason(["ranges": .string("9223372036854775296+1024")])?.contains("past 2^63") == true)
    }

    /// The kernel's splitter treats '\' and the byte 0xA0 specially: neither may reach it.
    @Test(arguments: ["a\\b", "caf\u{A0}", "tab\there", "é"])
    func kernelTextIsPrintableASCIIWithoutBackslash(value: String) {
        #expect(reason(["store": .string("/x/" + value)]) != nil)
    }
}
