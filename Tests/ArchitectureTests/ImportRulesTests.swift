import Foundation
import Testing

/// The import rules of docs/architecture.md, checked on the sources themselves: a forbidden import
/// fails here before it reaches review.
@Suite("Import rules")
struct ImportRulesTests {
    /// The package root, found from this file's path (Tests/ArchitectureTests/ImportRulesTests.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Which modules each target's sources may import (besides the standard library, Foundation,
    /// Glibc/Darwin and the package dependencies listed).
    static let allowed: [String: Set<String>] = [
        "Sources/Shared/EchoShared": ["Logging", "ArgumentParser"],
        "Sources/Shared/EchoTLS": [],
        "Sources/Shared/EchoCore": ["EchoShared", "EchoTLS", "NIOCore", "NIOPosix", "NIOHTTP1", "NIOWebSocket", "Logging"],
        "Sources/Shared/EchoSupervision": ["EchoShared", "Logging"],
        "Sources/Shared/EchoBenchKit": ["EchoCore"],
        "Sources/Worker": ["EchoShared", "EchoCore", "EchoTLS", "NIOCore", "NIOPosix", "NIOHTTP1", "NIOWebSocket",
                           "Logging", "Metrics", "Prometheus", "ArgumentParser", "ServiceLifecycle"],
        "Sources/Supervisor": ["EchoShared", "EchoSupervision", "EchoTLS", "Logging", "ArgumentParser"],
        "Sources/Bench": ["EchoShared", "EchoCore", "EchoTLS", "EchoBenchKit", "Histogram", "NIOCore", "NIOPosix",
                          "NIOConcurrencyHelpers", "ArgumentParser", "Logging"],
    ]

    /// Each C module and the one file allowed to import it.
    static let cModuleOwners: [String: String] = [
        "CHiredis": "Sources/Shared/EchoCore/Redis/RESPCodec.swift",
        "CSystemd": "Sources/Shared/EchoSupervision/Systemd/Systemd.swift",
        "CZlib": "Sources/Shared/EchoCore/Static/Gzip.swift",
        "CLinux": "Sources/Shared/EchoShared/Linux/LinuxCalls.swift",
        "COpenSSL": "Sources/Shared/EchoTLS/OpenSSL.swift",
    ]

    static let system: Set<String> = ["Foundation", "Glibc", "Darwin", "Dispatch", "Synchronization"]

    /// Every Swift file under `directory`, as paths relative to the root, with the modules it imports.
    static func imports(under directory: String) throws -> [(file: String, modules: [String])] {
        let base = root.appendingPathComponent(directory)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var result: [(String, [String])] = []
        for case let url as URL in walker where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            let modules = text.split(separator: "\n").compactMap { line -> String? in
                let words = line.split(separator: " ")
                guard let i = words.firstIndex(of: "import"), i + 1 < words.count,
                      words[..<i].allSatisfy({ $0.hasPrefix("@") || $0 == "public" || $0 == "internal" })
                else { return nil }
                return String(words[i + 1])
            }
            let relative = String(url.path.dropFirst(root.path.count + 1))
            result.append((relative, modules))
        }
        return result
    }

    @Test("each target imports only what its layer allows", arguments: Array(allowed.keys).sorted())
    func targetImports(directory: String) throws {
        let files = try Self.imports(under: directory)
        #expect(!files.isEmpty, "no sources found under \(directory)")
        for (file, modules) in files {
            for module in modules where !Self.system.contains(module) && Self.cModuleOwners[module] == nil {
                #expect(Self.allowed[directory]!.contains(module), "\(file) imports \(module)")
            }
        }
    }

    @Test("each C module is imported by exactly one wrapper file")
    func cModules() throws {
        var importers: [String: [String]] = [:]
        for directory in ["Sources", "Tests"] {
            for (file, modules) in try Self.imports(under: directory) {
                for module in modules where Self.cModuleOwners[module] != nil {
                    importers[module, default: []].append(file)
                }
            }
        }
        for (module, owner) in Self.cModuleOwners {
            #expect(importers[module] == [owner], "\(module) is imported by \(importers[module] ?? [])")
        }
    }

    @Test("no server binary links the bench kit; the worker and the supervisor do not link each other")
    func manifestLinks() throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        for target in ["Worker", "Supervisor", "EchoCore", "EchoShared", "EchoSupervision"] {
            let deps = try Self.dependencies(of: target, in: manifest)
            #expect(!deps.contains("EchoBenchKit"), "\(target) depends on EchoBenchKit")
            #expect(!deps.contains("Bench"), "\(target) depends on Bench")
        }
        #expect(try !Self.dependencies(of: "Worker", in: manifest).contains("EchoSupervision"))
        #expect(try !Self.dependencies(of: "Worker", in: manifest).contains("Supervisor"))
        #expect(try !Self.dependencies(of: "Supervisor", in: manifest).contains("EchoCore"))
        #expect(try !Self.dependencies(of: "Supervisor", in: manifest).contains("Worker"))
    }

    @Test("every dependency a target declares is imported by one of its files", arguments: Array(allowed.keys).sorted())
    func declaredDependenciesAreUsed(directory: String) throws {
        let manifest = try String(contentsOf: Self.root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let target = String(directory.split(separator: "/").last!)
        let imported = Set(try Self.imports(under: directory).flatMap(\.modules))
        for dependency in try Self.dependencies(of: target, in: manifest) {
            #expect(imported.contains(dependency), "\(target) depends on \(dependency) but no file imports it")
        }
    }

    /// The target and product names in the `dependencies:` list of target `name` in the manifest.
    static func dependencies(of name: String, in manifest: String) throws -> Set<String> {
        guard let start = manifest.range(of: "name: \"\(name)\"") else {
            throw ManifestError(description: "target \(name) not found in Package.swift")
        }
        let rest = manifest[start.upperBound...]
        // The target's own block ends where the next target begins.
        let end = rest.range(of: "\n        .")?.lowerBound ?? rest.endIndex
        let block = rest[..<end]
        guard let list = block.range(of: "dependencies: [") else { return [] }
        let body = block[list.upperBound...].prefix { $0 != "]" }
        return Set(body.split(separator: ",").compactMap { item in
            var trimmed = item.trimmingCharacters(in: .whitespacesAndNewlines)
            // `.product(name: "NIOCore"` (the package name follows after the comma).
            if trimmed.hasPrefix(".product(name: ") { trimmed = String(trimmed.dropFirst(".product(name: ".count)) }
            guard trimmed.hasPrefix("\""), trimmed.hasSuffix("\"") else { return nil }
            return String(trimmed.dropFirst().dropLast())
        })
    }

    struct ManifestError: Error, CustomStringConvertible { var description: String }
}
