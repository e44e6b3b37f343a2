// CredentialReload: SIGHUP's work: reads the token file and the TLS certificate and key again, and replaces them only if all are good.
import Foundation

/// All or nothing: every file is read and parsed (the certificate by GnuTLS, so a key that does not
/// fit is found here) before anything is replaced. If one fails, the tokens and the certificate in use
/// stay as they were and the error says which file and why. Requests in flight and open connections
/// are not touched: a request checks the token set current when it arrives, a TLS connection keeps
/// the certificate its handshake presented.
struct CredentialReload: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    var tokenFile: String?
    var tlsFiles: DaemonSettings.TLSFiles?
    /// nil when the daemon runs without a token file: there is nothing to reload then.
    let tokens: ActiveTokens?
    /// Makes new handshakes present the certificate (the HTTP server's `replaceCertificate`); called
    /// only when there are TLS files.
    let installCertificate: @Sendable (ServerCertificate) throws -> Void

    /// Reloads; what was reloaded, for the log and the service status.
    func reload() throws -> String {
        var newTokens: TokenStore?
        if let tokenFile, tokens != nil {
            do {
                newTokens = try TokenStore(contentsOf: tokenFile)
            } catch {
                throw Failure(description: "--token-file: \(error)")
            }
        }
        var newCertificate: ServerCertificate?
        if let tlsFiles {
            do {
                newCertificate = try ServerCertificate(
                    TLSCredentials(certificateFile: tlsFiles.certificate, keyFile: tlsFiles.key))
            } catch {
                throw Failure(description: "TLS: \(error)")
            }
        }
        // The one step that can still fail goes first, so a failure leaves the tokens alone too.
        if let newCertificate {
            do {
                try installCertificate(newCertificate)
            } catch {
                throw Failure(description: "TLS: \(error)")
            }
        }
        if let newTokens { tokens?.replace(with: newTokens) }
        var done: [String] = []
        if let newTokens { done.append("\(newTokens.count) token(s) from \(tokenFile ?? "")") }
        if newCertificate != nil, let tlsFiles { done.append("the certificate from \(tlsFiles.certificate)") }
        return done.isEmpty ? "nothing (no token file, no TLS)" : done.joined(separator: " and ")
    }
}
