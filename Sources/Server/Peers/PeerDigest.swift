// PeerDigest: SHA-256 and HMAC-SHA256 for signed peer calls, computed by GnuTLS (already linked for HTTPS).
import CGnuTLS

enum PeerDigest {
    static func sha256(_ message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let rc = message.withUnsafeBytes { m in
            digest.withUnsafeMutableBytes {
                gnutls_hash_fast(GNUTLS_DIG_SHA256, m.baseAddress, m.count, $0.baseAddress)
            }
        }
        // SHA-256 is in every GnuTLS build, FIPS mode included; failing here means a broken library.
        precondition(rc == 0, "GnuTLS cannot compute SHA-256 (\(rc))")
        return digest
    }

    static func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        let rc = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                mac.withUnsafeMutableBytes {
                    gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.baseAddress, k.count, m.baseAddress, m.count, $0.baseAddress)
                }
            }
        }
        precondition(rc == 0, "GnuTLS cannot compute HMAC-SHA256 (\(rc))")
        return mac
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
