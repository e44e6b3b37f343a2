// BuiltInFilterTypes: the list of filter types this build knows; a new type is one file plus one line here.
import Foundation

extension FilterTypeSpec {
    static let builtIn: [FilterTypeSpec] = [
        .stat
    ]
}
