// swift-tools-version:6.1
import PackageDescription

// A libFuzzer target for the JSON request parser (`ClientRequest.parse`), built only by
// scripts/fuzz-parser.sh with its own scratch path: it never slows the main build or `make test`.
// It compiles the parser's own files (symlinked from Sources/Shared/EchoCore/Protocol) against NIOCore
// instead of linking the whole EchoCore module.
let package = Package(
    name: "echo-fuzz",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "EchoShared"),
        .executableTarget(
            name: "ParseFuzz",
            dependencies: ["EchoShared", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: [.unsafeFlags(["-sanitize=fuzzer,address", "-parse-as-library"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
