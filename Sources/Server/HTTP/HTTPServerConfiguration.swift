// HTTPServerConfiguration: where and how the HTTP server listens, with the limits that protect it.
import Foundation

public struct HTTPServerConfiguration: Sendable {
    public var listen: ListenAddress
    /// libmicrohttpd worker threads, each with its own epoll set.
    public var threadPoolSize: Int
    /// Open connections across all clients; libmicrohttpd refuses more at accept().
    public var connectionLimit: Int
    /// Open connections from one client address; 0 disables the check. Off-by-default would let one
    /// host (or a runaway script) take every slot; half the total still fits 200 loopback watchers.
    public var perIPConnectionLimit: Int
    /// An idle connection is closed after this many seconds (libmicrohttpd's default is never).
    public var connectionTimeoutSeconds: Int
    /// Per-connection memory pool: bounds request line + headers (libmicrohttpd answers 414/431 beyond).
    /// libmicrohttpd zeroes it for every request, so bigger costs throughput; 32 KiB is its default.
    public var connectionMemoryLimit: Int
    /// A request body beyond this is refused with 413 problem+json.
    public var maxBodyBytes: Int
    /// How long `stop()` lets in-flight requests finish before answering them 503 and closing.
    public var shutdownGraceSeconds: Double
    public var tls: TLSCredentials?

    public init(
        listen: ListenAddress, threadPoolSize: Int = ProcessInfo.processInfo.activeProcessorCount,
        connectionLimit: Int = 1024, perIPConnectionLimit: Int = 512, connectionTimeoutSeconds: Int = 60,
        connectionMemoryLimit: Int = 32 * 1024, maxBodyBytes: Int = 1 << 20, shutdownGraceSeconds: Double = 10,
        tls: TLSCredentials? = nil
    ) {
        self.listen = listen
        self.threadPoolSize = max(1, threadPoolSize)
        self.connectionLimit = connectionLimit
        self.perIPConnectionLimit = perIPConnectionLimit
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.connectionMemoryLimit = connectionMemoryLimit
        self.maxBodyBytes = maxBodyBytes
        self.shutdownGraceSeconds = shutdownGraceSeconds
        self.tls = tls
    }
}

/// A PEM certificate chain and private key, read at startup so a bad file fails before binding.
public struct TLSCredentials: Sendable {
    public var certificatePEM: String
    public var keyPEM: String

    public init(certificatePEM: String, keyPEM: String) {
        self.certificatePEM = certificatePEM
        self.keyPEM = keyPEM
    }

    /// Reads `--tls-cert` / `--tls-key`; the error names the file and what is wrong with it.
    public init(certificateFile: String, keyFile: String) throws {
        func read(_ path: String, _ what: String, marker: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw HTTPServerError.tls("cannot read the TLS \(what) file '\(path)'")
            }
            guard let text = String(data: data, encoding: .utf8), text.contains(marker) else {
                throw HTTPServerError.tls("the TLS \(what) file '\(path)' is not PEM (no '\(marker)')")
            }
            return text
        }
        certificatePEM = try read(certificateFile, "certificate", marker: "-----BEGIN CERTIFICATE-----")
        // The same rule as the token files: a private key other local users can read is no longer private.
        var info = stat()
        if stat(keyFile, &info) == 0 && info.st_mode & 0o007 != 0 {
            throw HTTPServerError.tls(
                String(
                    format: "the TLS key file '%@' is accessible by other users (mode %03o); run: chmod o-rwx '%@'",
                    keyFile, info.st_mode & 0o777, keyFile))
        }
        keyPEM = try read(keyFile, "key", marker: "PRIVATE KEY-----")
    }
}

public enum HTTPServerError: Error, CustomStringConvertible, Equatable {
    case tls(String)
    case start(String)
    case alreadyStarted

    public var description: String {
        switch self {
        case .tls(let s): return s
        case .start(let s): return s
        case .alreadyStarted: return "the HTTP server is already started"
        }
    }
}
