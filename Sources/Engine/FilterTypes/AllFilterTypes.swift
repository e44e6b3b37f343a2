// AllFilterTypes: the filter types this build knows, one line each (a unit test checks it against kernel/dm-flt-*.c).
import Foundation

public enum AllFilterTypes {
    public static let list: [any FilterType] = [
        StatFilterType(),
        GuardFilterType(),
        CbtFilterType(),
        CowFilterType(),
        MirrorFilterType(),
    ]
}
