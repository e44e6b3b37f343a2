// CredentialReloadTests: SIGHUP's reload replaces the tokens (and the certificate) only when every file is good.
import Foundation
import Synchronization
import Testing

@testable import dmfltd

@Suite struct CredentialReloadTests {
    static let oldToken = "old-operator-token-0123456789"
    static let newToken = "new-operator-token-0123456789"

    /// A directory with a token file (mode 0600) holding `text`.
    final class Files {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-reload-\(UUID())")
        var tokenFile: String { dir.appendingPathComponent("tokens").path }

        init(tokens text: String) throws {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try write(tokens: text)
        }

        func write(tokens text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: tokenFile))
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile)
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    /// Records the certificates it is asked to install.
    final class Installed: Sendable {
        let count = Mutex(0)
        let refuse: Bool
        init(refuse: Bool = false) { self.refuse = refuse }
        func install(_ certificate: ServerCertificate) throws {
            if refuse { throw HTTPServerError.tls("this server is not serving HTTPS") }
            count.withLock { $0 += 1 }
        }
    }

    func reload(_ files: Files, _ tokens: ActiveTokens, tls: DaemonSettings.TLSFiles? = nil, _ installed: Installed)
        -> CredentialReload
    {
        CredentialReload(
            tokenFile: files.tokenFile, tlsFiles: tls, tokens: tokens, installCertificate: installed.install)
    }

    @Test func aChangedTokenFileReplacesTheWholeSet() throws {
        let files = try Files(tokens: "operator \(Self.oldToken)\n")
        let tokens = ActiveTokens(try TokenStore(contentsOf: files.tokenFile))
        try files.write(tokens: "operator \(Self.newToken)\nreader reader-token-0123456789abc\n")
        let done = try reload(files, tokens, Installed()).reload()
        #expect(done.contains("2 token(s)"), "\(done)")
        #expect(tokens.role(forToken: Self.newToken.utf8) == .operator)
        #expect(tokens.role(forToken: "reader-token-0123456789abc".utf8) == .reader)
        #expect(tokens.role(forToken: Self.oldToken.utf8) == nil, "the old token is refused after the reload")
    }

    @Test func aBrokenTokenFileKeepsTheOldTokens() throws {
        let files = try Files(tokens: "operator \(Self.oldToken)\n")
        let tokens = ActiveTokens(try TokenStore(contentsOf: files.tokenFile))
        // The first line alone would be a good file: the whole file is refused, not the bad line.
        try files.write(tokens: "operator \(Self.newToken)\nadmin some-other-token-0123456789\n")
        #expect { try reload(files, tokens, Installed()).reload() } throws: {
            "\($0)".contains("--token-file") && "\($0)".contains("line 2") && "\($0)".contains("unknown role")
        }
        #expect(tokens.role(forToken: Self.oldToken.utf8) == .operator)
        #expect(tokens.role(forToken: Self.newToken.utf8) == nil)

        try files.write(tokens: "# every token removed\n")
        #expect(throws: CredentialReload.Failure.self) { try reload(files, tokens, Installed()).reload() }
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: files.tokenFile)
        try files.write(tokens: "operator \(Self.newToken)\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: files.tokenFile)
        #expect { try reload(files, tokens, Installed()).reload() } throws: { "\($0)".contains("other users") }
        try FileManager.default.removeItem(atPath: files.tokenFile)
        #expect(throws: CredentialReload.Failure.self) { try reload(files, tokens, Installed()).reload() }
        #expect(tokens.role(forToken: Self.oldToken.utf8) == .operator, "every failure kept the old set")
    }

    /// A good token file and a bad certificate: nothing is replaced, the tokens neither.
    @Test func aBadCertificateKeepsTheOldTokensToo() async throws {
        let files = try Files(tokens: "operator \(Self.oldToken)\n")
        let tokens = ActiveTokens(try TokenStore(contentsOf: files.tokenFile))
        try files.write(tokens: "operator \(Self.newToken)\n")
        let junk = files.dir.appendingPathComponent("junk.pem").path
        #expect(FileManager.default.createFile(atPath: junk, contents: Data("not a certificate".utf8)))
        let installed = Installed()
        #expect {
            try reload(files, tokens, tls: .init(certificate: junk, key: junk), installed).reload()
        } throws: { "\($0)".hasPrefix("TLS: ") && "\($0)".contains("junk.pem") }
        #expect(installed.count.withLock { $0 } == 0)
        #expect(tokens.role(forToken: Self.oldToken.utf8) == .operator)

        // PEM that parses as text but not for GnuTLS: a key that does not fit the certificate.
        let a = files.dir.appendingPathComponent("a")
        let b = files.dir.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        let first = try await HTTPTLSTests.makeCertificate(in: a)
        let second = try await HTTPTLSTests.makeCertificate(in: b)
        #expect(throws: CredentialReload.Failure.self) {
            try reload(files, tokens, tls: .init(certificate: first.cert, key: second.key), installed).reload()
        }
        #expect(installed.count.withLock { $0 } == 0)
        #expect(tokens.role(forToken: Self.oldToken.utf8) == .operator)

        // A server that cannot take the certificate: the tokens stay as well.
        #expect(throws: CredentialReload.Failure.self) {
            try reload(files, tokens, tls: .init(certificate: first.cert, key: first.key), Installed(refuse: true))
                .reload()
        }
        #expect(tokens.role(forToken: Self.oldToken.utf8) == .operator)

        let done = try reload(files, tokens, tls: .init(certificate: first.cert, key: first.key), installed).reload()
        #expect(installed.count.withLock { $0 } == 1)
        #expect(done.contains("1 token(s)") && done.contains("the certificate from \(first.cert)"), "\(done)")
        #expect(tokens.role(forToken: Self.newToken.utf8) == .operator)
        #expect(tokens.role(forToken: Self.oldToken.utf8) == nil)
    }
}
