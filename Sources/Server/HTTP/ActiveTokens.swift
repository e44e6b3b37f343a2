// ActiveTokens: the TokenStore requests are checked against now, replaced whole when the token file is read again.
import Synchronization

/// A reload swaps the whole set at once: a request sees either every old token or every new one,
/// never a mix, and a request already past authentication keeps the role it was given.
public final class ActiveTokens: Sendable {
    private let current: Mutex<TokenStore>

    public init(_ tokens: TokenStore) {
        current = Mutex(tokens)
    }

    public var tokens: TokenStore { current.withLock { $0 } }

    public func replace(with tokens: TokenStore) {
        current.withLock { $0 = tokens }
    }

    /// The role of a presented token in the current set, or nil.
    public func role(forToken presented: some Collection<UInt8>) -> Role? {
        tokens.role(forToken: presented)
    }
}
