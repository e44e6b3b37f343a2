// swift-tools-version:6.0
// dmflt: a REST control plane for Linux device filters (dmfltd daemon, host Engine, C shims).
import PackageDescription

let package = Package(
    name: "dmflt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dmfltd", targets: ["dmfltd"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // The project's one dm filter ABI header (kernel/include/uapi/linux/dm-filter.h) for Swift.
        .target(name: "CDMFilter", path: "Sources/CDMFilter"),
        .systemLibrary(
            name: "CDeviceMapper", path: "Sources/CDeviceMapper", pkgConfig: "devmapper",
            providers: [.apt(["libdevmapper-dev"])]),
        .target(name: "CDeviceMapperShim", dependencies: ["CDeviceMapper"], path: "Sources/CDeviceMapperShim"),
        .systemLibrary(
            name: "CMicroHTTPD", path: "Sources/CMicroHTTPD", pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]),
        // The HTTPS certificate is handed to GnuTLS at each handshake, so the shim links GnuTLS too.
        .target(
            name: "CMicroHTTPDShim", dependencies: ["CMicroHTTPD", "CGnuTLS"], path: "Sources/CMicroHTTPDShim"),
        // SHA-256 and HMAC for signed peer calls, from the GnuTLS libmicrohttpd already depends on.
        .systemLibrary(
            name: "CGnuTLS", path: "Sources/CGnuTLS", pkgConfig: "gnutls", providers: [.apt(["libgnutls28-dev"])]),
        .target(
            name: "Engine",
            dependencies: [
                "CDMFilter", "CDeviceMapper", "CDeviceMapperShim",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Engine"),
        .executableTarget(
            name: "dmfltd",
            dependencies: [
                "Engine", "CMicroHTTPD", "CMicroHTTPDShim", "CGnuTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Sources/Server",
            exclude: ["API/README.md"],
            linkerSettings: [
                // Release builds on Linux link with lld and pack their relative relocations (DT_RELR,
                // glibc 2.36+: Debian bookworm), and export no symbols: the static Swift runtime's
                // link file asks for --export-dynamic, which put 31,000 symbols and a 2.8 MB relocation
                // table into every start. Together they cut idle RSS by about 4.5 MB (scripts/bench http).
                .unsafeFlags(
                    [
                        "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker",
                        "--no-export-dynamic",
                    ],
                    .when(platforms: [.linux], configuration: .release))
            ]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "CDMFilter"], path: "Tests/EngineTests"),
        .testTarget(name: "ServerTests", dependencies: ["dmfltd", "Engine"], path: "Tests/ServerTests"),
        // Runs only inside the VM (scripts/vm) against the real kernel; scripts/test selects it there.
        .testTarget(
            name: "IntegrationTests", dependencies: ["dmfltd", "Engine", "CDMFilter"], path: "Tests/IntegrationTests"),
    ]
)
