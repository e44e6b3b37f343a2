// ServerCertificate: an HTTPS certificate chain and key parsed by GnuTLS, ready to be presented by a running server.
import CMicroHTTPDShim
import Foundation

/// Parsing happens here, before anything is replaced, so a certificate that GnuTLS refuses (a key that
/// does not fit, a chain that does not parse) is an error at start or at reload, never a failed
/// handshake later. The C object is reference-counted: this value holds one reference, the server's
/// slot another while it is current, and each connection whose handshake presented it one more.
public final class ServerCertificate: @unchecked Sendable {
    let pointer: OpaquePointer

    public init(_ credentials: TLSCredentials) throws {
        var error = [CChar](repeating: 0, count: 256)
        guard let loaded = cmhd_certificate_load(credentials.certificatePEM, credentials.keyPEM, &error, error.count)
        else {
            throw HTTPServerError.tls(
                String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        pointer = loaded
    }

    /// References held now (this value's, the server's while current, open connections'); for tests.
    var references: Int { Int(cmhd_certificate_references(pointer)) }

    deinit { cmhd_certificate_release(pointer) }
}
