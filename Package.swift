// swift-tools-version:6.1
import PackageDescription

// Dependencies come from the local mirror by their GitHub URLs; versions are the mirror's.
let package = Package(
    name: "echo",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "echo", targets: ["Supervisor"]),
        .executable(name: "echo-worker", targets: ["Worker"]),
        .executable(name: "echo-bench", targets: ["Bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM refuses with a
        // warning on every build; the shim includes <hiredis/...> from the default path.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Linux process calls Swift's Glibc module does not declare (prctl, signalfd, closefrom).
        .systemLibrary(name: "CLinux"),
        // Debian's OpenSSL 3 (libssl-dev), linked by the module map: security updates reach Echo
        // without a rebuild.
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"])]
        ),

        // The libraries under Sources/Shared, named for who uses them (docs/architecture.md):
        // EchoShared  — both binaries: configuration, logging, the control protocol, Linux calls.
        // EchoCore    — the worker's chat logic without channels: wire protocol, input rules,
        //               frames, the room store, the Redis client, static assets.
        // EchoSupervision — the supervisor's pure logic: restart policy, reload and slot machines, sd_notify.
        // EchoBenchKit — only echo-bench links it; no server binary does (ImportRulesTests).
        // EchoTLS     — OpenSSL behind one wrapper: contexts, connections, certificate checks.
        .target(
            name: "EchoShared",
            dependencies: [
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Shared/EchoShared"
        ),
        .target(
            name: "EchoTLS",
            dependencies: ["COpenSSL"],
            path: "Sources/Shared/EchoTLS"
        ),
        .target(
            name: "EchoCore",
            dependencies: [
                "EchoShared",
                "EchoTLS",
                "CHiredis",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Shared/EchoCore"
        ),
        .target(
            name: "EchoSupervision",
            dependencies: [
                "EchoShared",
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Shared/EchoSupervision"
        ),
        .target(
            name: "EchoBenchKit",
            dependencies: ["EchoCore"],
            path: "Sources/Shared/EchoBenchKit"
        ),
        .executableTarget(
            name: "Worker",
            dependencies: [
                "EchoShared",
                "EchoCore",
                "EchoTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "Supervisor",
            dependencies: [
                "EchoShared",
                "EchoSupervision",
                "EchoTLS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "Bench",
            dependencies: [
                "EchoShared",
                "EchoBenchKit",
                "EchoTLS",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "EchoSharedTests", dependencies: ["EchoShared"]),
        .testTarget(name: "EchoTLSTests", dependencies: ["EchoTLS"]),
        .testTarget(
            name: "EchoCoreTests",
            dependencies: [
                "EchoCore",
                "EchoTLS",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "EchoSupervisionTests", dependencies: ["EchoSupervision"]),
        // The worker's channel handlers on EmbeddedChannel, exact bytes in and out.
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "EchoBenchKitTests", dependencies: ["EchoBenchKit"]),
        // Reads Package.swift and every source file: the import rules of docs/architecture.md.
        .testTarget(name: "ArchitectureTests"),
    ],
    swiftLanguageModes: [.v6]
)
