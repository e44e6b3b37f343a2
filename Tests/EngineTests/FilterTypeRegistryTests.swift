// FilterTypeRegistryTests: every kernel module dm-flt-<name>.c has its unit in AllFilterTypes, and every unit a module.
import Foundation
import Testing

@testable import Engine

@Suite struct FilterTypeRegistryTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func everyKernelModuleHasAUnitAndEveryUnitAModule() throws {
        let files = try FileManager.default.contentsOfDirectory(
            atPath: Self.repository.appendingPathComponent("kernel").path)
        let modules = files.filter { $0.hasPrefix("dm-flt-") && $0.hasSuffix(".c") }
            .map { String($0.dropFirst("dm-flt-".count).dropLast(2)) }.sorted()
        #expect(!modules.isEmpty)
        #expect(AllFilterTypes.list.map(\.name).sorted() == modules)
    }

    @Test func operationNamesArePathSegmentsAndUniquePerMethod() {
        for unit in AllFilterTypes.list {
            var seen = Set<String>()
            for op in unit.operations {
                #expect(op.name.allSatisfy { $0.isLowercase || $0 == "-" }, "\(unit.name) \(op.name)")
                #expect(["GET", "POST"].contains(op.method), "\(unit.name) \(op.name)")
                #expect(seen.insert("\(op.method) \(op.name)").inserted, "\(unit.name) \(op.name) twice")
                // Names the router already gives a meaning.
                #expect(!["stats", "messages"].contains(op.name), "\(unit.name) \(op.name)")
            }
        }
    }

    @Test func eachOptionNameIsAKernelWord() {
        for unit in AllFilterTypes.list {
            for option in unit.spec.options {
                #expect(option.name.allSatisfy { $0.isLowercase || $0 == "-" }, "\(unit.name).\(option.name)")
            }
        }
    }
}
