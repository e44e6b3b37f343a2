// CatalogTests: filter names and options are validated precisely, and the catalog merges with the kernel's types.
import Foundation
import Testing

@testable import Engine

@Suite struct CatalogTests {
    /// A catalog with a made-up type that has one option of each kind, to exercise validation.
    let catalog = FilterCatalog(types: [
        StatFilterType().spec,
        FilterTypeSpec(
            name: "probe", summary: "test type",
            options: [
                FilterOptionSpec(
                    name: "depth", kind: .int, summary: "", defaultValue: .int(4), scope: .kernel, minimum: 1,
                    maximum: 64),
                FilterOptionSpec(
                    name: "mode", kind: .string, summary: "", defaultValue: nil, scope: .kernel,
                    allowedValues: ["ro", "rw"]),
                FilterOptionSpec(name: "tag", kind: .string, summary: "", defaultValue: .string("x"), scope: .kernel),
                FilterOptionSpec(name: "sample", kind: .bool, summary: "", defaultValue: .bool(false), scope: .daemon),
            ]),
    ])

    /// stat's one option is the daemon's (dm-stats latency): the kernel's stat takes none and never sees it.
    @Test func standardCatalogHasStatWithOnlyTheDaemonsLatencyOption() throws {
        let stat = try #require(FilterCatalog.standard.spec(named: "stat"))
        #expect(stat.options.map(\.name) == ["latency"])
        #expect(stat.options.first?.scope == .daemon)
        let validated = try FilterCatalog.standard.validate(filter: "stat", options: [:])
        #expect(validated.kernelText == "")
        #expect(validated.values == ["latency": .bool(false)])
        let latency = try FilterCatalog.standard.validate(filter: "stat", options: ["latency": .bool(true)])
        #expect(latency.kernelText == "")
        #expect(latency.values == ["latency": .bool(true)])
    }

    @Test func unknownFilterNamesTheKnownOnes() {
        #expect(throws: CatalogError.unknownFilter(name: "stats", known: ["cbt", "cow", "guard", "mirror", "stat"])) {
            try FilterCatalog.standard.validate(filter: "stats", options: [:])
        }
        #expect(
            CatalogError.unknownFilter(name: "stats", known: ["stat"]).description
                == "unknown filter type 'stats'; known types: stat")
    }

    @Test func statRefusesAnOptionItDoesNotHave() {
        #expect(throws: CatalogError.unknownOption(filter: "stat", option: "depth", known: ["latency"])) {
            try FilterCatalog.standard.validate(filter: "stat", options: ["depth": .int(1)])
        }
    }

    @Test func valuesAreCheckedAndDefaultsFilledIn() throws {
        let validated = try catalog.validate(filter: "probe", options: ["mode": .string("ro"), "sample": .bool(true)])
        #expect(validated.kernelText == "depth=4 mode=ro tag=x")  // daemon-scope "sample" stays out
        #expect(
            validated.values == ["depth": .int(4), "mode": .string("ro"), "tag": .string("x"), "sample": .bool(true)])
    }

    @Test func everyKindOfBadOptionHasItsOwnError() {
        let cases: [([String: OptionValue], CatalogError)] = [
            (
                ["mode": .string("ro"), "depth": .string("4")],
                .wrongType(filter: "probe", option: "depth", expected: .int, got: .string)
            ),
            (
                ["mode": .string("ro"), "depth": .int(65)],
                .outOfRange(filter: "probe", option: "depth", value: 65, minimum: 1, maximum: 64)
            ),
            (
                ["mode": .string("ro"), "depth": .int(0)],
                .outOfRange(filter: "probe", option: "depth", value: 0, minimum: 1, maximum: 64)
            ),
            (
                ["mode": .string("wo")],
                .notAllowed(filter: "probe", option: "mode", value: "wo", allowed: ["ro", "rw"])
            ),
            ([:], .missingRequired(filter: "probe", option: "mode")),
            (
                ["mode": .string("ro"), "sample": .int(1)],
                .wrongType(filter: "probe", option: "sample", expected: .bool, got: .int)
            ),
            (
                ["mode": .string("ro"), "color": .bool(true)],
                .unknownOption(filter: "probe", option: "color", known: ["depth", "mode", "tag", "sample"])
            ),
        ]
        for (options, expected) in cases {
            #expect(throws: expected) { try catalog.validate(filter: "probe", options: options) }
        }
    }

    @Test(arguments: ["a b", "a=b", "line\nbreak", "", "tab\there"])
    func kernelTextCannotBeSmuggledThroughAString(value: String) {
        #expect {
            try catalog.validate(filter: "probe", options: ["mode": .string("ro"), "tag": .string(value)])
        } throws: { error in
            if case .unsafeText(_, "tag", _) = error as! CatalogError { return true }
            return false
        }
    }

    @Test func errorSentencesNameFilterOptionAndFix() {
        #expect(
            CatalogError.wrongType(filter: "probe", option: "depth", expected: .int, got: .string).description
                == "option 'depth' of filter 'probe' must be an integer, not a string")
        #expect(
            CatalogError.outOfRange(filter: "probe", option: "depth", value: 65, minimum: 1, maximum: 64).description
                == "option 'depth' of filter 'probe' is 65 but must be at least 1 and at most 64")
        #expect(
            CatalogError.unknownOption(filter: "stat", option: "x", known: []).description
                == "filter 'stat' has no option 'x'; it takes no options")
    }

    @Test func entriesMergeKnownAndLoadedTypes() {
        let entries = FilterCatalog.standard.entries(kernelTypes: [
            KernelFilterType(name: "stat", version: [1, 0, 2], attachments: 3),
            KernelFilterType(name: "zz-vendor", version: [0, 9, 0], attachments: 0),
        ])
        #expect(entries.map(\.name) == ["cbt", "cow", "guard", "mirror", "stat", "zz-vendor"])
        #expect(entries[2].known && !entries[2].loaded && entries[2].kernelVersion == nil)
        #expect(
            entries[4].known && entries[4].loaded && entries[4].kernelVersion == "1.0.2" && entries[4].attachments == 3)
        #expect(!entries[5].known && entries[5].loaded && entries[5].kernelVersion == "0.9.0")
        let notLoaded = FilterCatalog.standard.entries(kernelTypes: [])
        #expect(
            notLoaded.map(\.name) == ["cbt", "cow", "guard", "mirror", "stat"]
                && notLoaded.allSatisfy { $0.known && !$0.loaded })
    }

    @Test func optionValuesRoundTripAsPlainJSON() throws {
        let json = #"{"a":true,"b":42,"c":"x"}"#
        let decoded = try JSONDecoder().decode([String: OptionValue].self, from: Data(json.utf8))
        #expect(decoded == ["a": .bool(true), "b": .int(42), "c": .string("x")])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([String: OptionValue].self, from: Data(#"{"a":1.5}"#.utf8))
        }
        let encoded = try JSONEncoder().encode(["b": OptionValue.int(42)])
        #expect(String(decoding: encoded, as: UTF8.self) == #"{"b":42}"#)
    }
}
