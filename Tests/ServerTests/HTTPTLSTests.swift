// HTTPTLSTests: HTTPS through libmicrohttpd/GnuTLS with a certificate made for the test, checked by a real client (curl).
import Foundation
import Testing

@testable import dmfltd

@Suite(.serialized)
struct HTTPTLSTests {
    /// Runs a tool to completion; its output and status.
    static func run(_ tool: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await onThread {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool)
            p.arguments = arguments
            let pipe = Pipe()
            p.standardInput = FileHandle.nullDevice
            p.standardOutput = pipe
            p.standardError = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: data, as: UTF8.self))
        }
    }

    static func makeCertificate(in dir: URL) async throws -> (cert: String, key: String) {
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try await run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key,
                "-out", cert,
            ])
        try #require(made.status == 0, "openssl (scripts/setup installs it) failed: \(made.output)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        return (cert, key)
    }

    @Test func servesHTTPSWithTheGivenCertificate() async throws {
        #expect(cmhd_tls_available(), "Debian's libmicrohttpd is built with GnuTLS")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tls-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (cert, key) = try await Self.makeCertificate(in: dir)

        var r = Router()
        r.get("/v1/host") { _ in try Response.json(["name": "tls-host"]) }
        var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 2)
        config.tls = try TLSCredentials(certificateFile: cert, keyFile: key)
        let server = HTTPServer(configuration: config, application: HTTPApplication(router: r))
        try server.start()
        let port = server.port
        let trusted = try await Self.run(
            "/usr/bin/curl",
            ["-sS", "--cacert", cert, "https://127.0.0.1:\(port)/v1/host", "https://127.0.0.1:\(port)/v1/host"])
        let untrusted = try await Self.run("/usr/bin/curl", ["-sS", "https://127.0.0.1:\(port)/v1/host"])
        let plain = try await Self.run("/usr/bin/curl", ["-sS", "http://127.0.0.1:\(port)/v1/host"])
        await server.stop()
        #expect(trusted.status == 0)
        #expect(trusted.output == #"{"name":"tls-host"}{"name":"tls-host"}"#)
        #expect(untrusted.status != 0, "a client that does not trust the certificate must refuse it")
        #expect(
            plain.status != 0 || !plain.output.contains("tls-host"), "plain HTTP must not be served on the TLS port")
    }

    @Test func refusesFilesThatAreNotPEM() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tls-bad-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.pem").path
        #expect(FileManager.default.createFile(atPath: junk, contents: Data("hello".utf8)))
        #expect { try TLSCredentials(certificateFile: junk, keyFile: junk) } throws: {
            "\($0)".contains("junk.pem") && "\($0)".contains("not PEM")
        }
        #expect { try TLSCredentials(certificateFile: junk + ".nope", keyFile: junk) } throws: {
            "\($0)".contains("cannot read")
        }
    }

    @Test func aKeyThatDoesNotFitTheCertificateFailsAtStart() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tls-mix-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a")
        let b = dir.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        let first = try await Self.makeCertificate(in: a)
        let second = try await Self.makeCertificate(in: b)
        var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 1)
        config.tls = try TLSCredentials(certificateFile: first.cert, keyFile: second.key)
        let server = HTTPServer(configuration: config, application: HTTPApplication(router: Router()))
        #expect(throws: HTTPServerError.self) { try server.start() }
    }

    @Test func refusesAKeyFileOtherUsersCanRead() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tls-mode-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (cert, key) = try await Self.makeCertificate(in: dir)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: key)
        #expect { try TLSCredentials(certificateFile: cert, keyFile: key) } throws: {
            "\($0)".contains("accessible by other users") && "\($0)".contains("chmod o-rwx '\(key)'")
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: key)
        _ = try TLSCredentials(certificateFile: cert, keyFile: key)
    }

    /// After `replaceCertificate`, a new handshake presents the new certificate, while a connection
    /// made before keeps the old one, goes on answering, and gives its reference back when it closes.
    @Test func aReplacedCertificateServesNewHandshakesAndOpenConnectionsKeepTheirs() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tls-swap-\(UUID())")
        let a = dir.appendingPathComponent("a")
        let b = dir.appendingPathComponent("b")
        try FileManager.default.createDirectory(at: a, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: b, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try await Self.makeCertificate(in: a)
        let second = try await Self.makeCertificate(in: b)

        var r = Router()
        r.get("/v1/host") { _ in try Response.json(["name": "tls-host"]) }
        var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 2)
        config.tls = try TLSCredentials(certificateFile: first.cert, keyFile: first.key)
        let server = HTTPServer(configuration: config, application: HTTPApplication(router: r))
        try server.start()
        let port = server.port
        let old = try ServerCertificate(config.tls!)
        try server.replaceCertificate(old)
        #expect(old.references == 2, "this value and the server's slot")

        // A connection whose handshake presents the first certificate, kept open (s_client -quiet waits
        // for the server to close).
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        client.arguments = [
            "s_client", "-quiet", "-verify_return_error", "-CAfile", first.cert, "-connect", "127.0.0.1:\(port)",
        ]
        let input = Pipe()
        let output = Pipe()
        client.standardInput = input
        client.standardOutput = output
        client.standardError = FileHandle.nullDevice
        try client.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while old.references < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(old.references == 3, "the open connection holds the certificate its handshake presented")

        let new = try ServerCertificate(TLSCredentials(certificateFile: second.cert, keyFile: second.key))
        try server.replaceCertificate(new)
        #expect(old.references == 2, "the slot let go; the open connection still holds it")
        let trustsNew = try await Self.run(
            "/usr/bin/curl", ["-sS", "--cacert", second.cert, "https://127.0.0.1:\(port)/v1/host"])
        let trustsOld = try await Self.run(
            "/usr/bin/curl", ["-sS", "--cacert", first.cert, "https://127.0.0.1:\(port)/v1/host"])
        #expect(trustsNew.status == 0 && trustsNew.output == #"{"name":"tls-host"}"#, "\(trustsNew.output)")
        #expect(trustsOld.status != 0, "a new handshake must present the new certificate")

        input.fileHandleForWriting.write(
            Data("GET /v1/host HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".utf8))
        let answer = try await onThread { output.fileHandleForReading.readDataToEndOfFile() }
        client.waitUntilExit()
        #expect(String(decoding: answer, as: UTF8.self).hasSuffix(#"{"name":"tls-host"}"#))
        let closed = ContinuousClock.now + .seconds(10)
        while old.references > 1, ContinuousClock.now < closed { try await Task.sleep(for: .milliseconds(20)) }
        #expect(old.references == 1, "a closed connection gives its certificate back")
        await server.stop()
        #expect(new.references == 1, "a stopped server holds no certificate")
        #expect(throws: HTTPServerError.self) { try server.replaceCertificate(new) }
    }

    /// A client limited to TLS 1.1 (with OpenSSL's own floor lowered, so only the server can refuse it)
    /// gets no session; TLS 1.2 and 1.3 clients do.
    @Test func speaksOnlyTLS12AndLater() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dmflt-tls-vers-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (cert, key) = try await Self.makeCertificate(in: dir)
        var config = HTTPServerConfiguration(listen: try ListenAddress(parsing: "127.0.0.1:0"), threadPoolSize: 1)
        config.tls = try TLSCredentials(certificateFile: cert, keyFile: key)
        let server = HTTPServer(configuration: config, application: HTTPApplication(router: Router()))
        try server.start()
        let target = "127.0.0.1:\(server.port)"
        func handshake(_ version: String) async throws -> (status: Int32, output: String) {
            try await Self.run(
                "/usr/bin/openssl",
                ["s_client", "-connect", target, version, "-cipher", "DEFAULT@SECLEVEL=0", "-CAfile", cert, "-brief"])
        }
        let old = try await handshake("-tls1_1")
        let v12 = try await handshake("-tls1_2")
        let v13 = try await handshake("-tls1_3")
        await server.stop()
        #expect(old.status != 0, "a TLS 1.1 handshake must fail: \(old.output)")
        #expect(v12.status == 0 && v12.output.contains("TLSv1.2"), "\(v12.output)")
        #expect(v13.status == 0 && v13.output.contains("TLSv1.3"), "\(v13.output)")
        #expect(HTTPServer.tlsPriorities.contains("-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"))
    }
}

func cmhd_tls_available() -> Bool { HTTPServer.tlsSupported }
