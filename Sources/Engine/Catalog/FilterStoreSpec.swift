// FilterStoreSpec: an option that names where a filter keeps data (a file or a block device), and the option that sizes it.
import Foundation

/// The option `option` (kind `.path`, daemon scope) names a block device, or a regular file on
/// another device that the daemon creates (or reuses when empty) with the size `sizeOption` gives,
/// and presents to the kernel as a loop device. The kernel gets `option=MAJOR:MINOR`.
public struct FilterStoreSpec: Sendable, Equatable {
    public var option: String
    /// The size option, required when the store is a file (it is the file's size).
    public var sizeOption: String

    public init(option: String, sizeOption: String) {
        self.option = option
        self.sizeOption = sizeOption
    }
}
