@testable import EchoCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@Suite("Static assets")
struct StaticAssetsTests {
    /// A web folder on disk, removed when the test ends.
    final class TemporaryWebRoot {
        let path: String

        init(files: [String: String]) throws {
            path = NSTemporaryDirectory() + "echo-static-" + UUID().uuidString
            for (relative, content) in files {
                let full = path + "/" + relative
                try FileManager.default.createDirectory(
                    atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(content.utf8).write(to: URL(fileURLWithPath: full))
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static let index = """
        <!doctype html><html><head><link rel="stylesheet" href="{{ASSET_BASE}}/style.css">
        <script type="module" src="{{ASSET_BASE}}/app.js"></script></head><body></body></html>
        """
    static let script = String(repeating: "export const greeting = 'hello, echo';\n", count: 40)
    static let files = [
        "index.html": index,
        "app.js": "import { greeting } from './lib/greet.js';\n" + script,
        "lib/greet.js": script,
        "style.css": String(repeating: ":root { --amber: #f5a524; }\n", count: 30),
        "emoji-data.json": "{\"groups\":[]}",
        "favicon.svg": "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
        ".index.html.swp": "editor junk",
    ]

    func load() throws -> (TemporaryWebRoot, StaticAssets) {
        let root = try TemporaryWebRoot(files: Self.files)
        return (root, try StaticAssets(root: root.path))
    }

    func get(_ assets: StaticAssets, _ uri: String, method: HTTPMethod = .GET, headers: [(String, String)] = []) throws -> StaticResponse {
        try #require(assets.response(method: method, uri: uri, headers: HTTPHeaders(headers)))
    }

    func text(_ buffer: ByteBuffer) -> String { String(buffer: buffer) }

    // MARK: - Content types

    @Test(arguments: [
        ("index.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("lib/emoji.MJS", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("emoji-data.json", "application/json"),
        ("favicon.svg", "image/svg+xml"),
        ("icon.png", "image/png"),
        ("site.webmanifest", "application/manifest+json"),
        ("README", "application/octet-stream"),
        (".hidden", "application/octet-stream"),
        ("archive.tar.xz", "application/octet-stream"),
    ])
    func contentTypeByExtension(path: String, expected: String) {
        #expect(ContentType.forPath(path) == expected)
    }

    @Test func compressibleTypes() {
        #expect(ContentType.isCompressible("text/javascript; charset=utf-8"))
        #expect(ContentType.isCompressible("application/json"))
        #expect(ContentType.isCompressible("image/svg+xml"))
        #expect(!ContentType.isCompressible("image/png"))
        #expect(!ContentType.isCompressible("font/woff2"))
    }

    // MARK: - Versioning

    @Test func templateReferencesAreRewrittenToTheVersionedBase() throws {
        let (_, assets) = try load()
        #expect(assets.version.count == 16)
        #expect(assets.version.allSatisfy { $0.isHexDigit })
        let response = try get(assets, "/")
        let html = text(response.body)
        #expect(html.contains("href=\"/v/\(assets.version)/style.css\""))
        #expect(html.contains("src=\"/v/\(assets.version)/app.js\""))
        #expect(!html.contains("{{"))
        #expect(response.headers["Cache-Control"] == ["no-cache"])
        #expect(response.headers["Content-Type"] == ["text/html; charset=utf-8"])
        #expect(text(try get(assets, "/index.html").body) == html)
        #expect(text(try get(assets, "/?room=x#abc").body) == html)
    }

    @Test func renderTemplateReplacesEveryPlaceholder() {
        let rendered = StaticAssets.renderTemplate("{{ASSET_BASE}}/a.js {{ASSET_BASE}}/b.css {{OTHER}}", assetBase: "/v/123")
        #expect(rendered == "/v/123/a.js /v/123/b.css {{OTHER}}")
    }

    @Test func versionChangesWithAnyFileAndIgnoresHiddenFiles() throws {
        let base = try StaticAssets(files: Self.files.mapValues { Array($0.utf8) }.filter { !$0.key.hasPrefix(".") })
        let (_, fromDisk) = try load()
        #expect(fromDisk.version == base.version, "hidden files must not be served nor hashed")
        #expect(fromDisk.assets[".index.html.swp"] == nil)

        var changed = Self.files.mapValues { Array($0.utf8) }.filter { !$0.key.hasPrefix(".") }
        changed["lib/greet.js"]! += Array(" ".utf8)
        #expect(try StaticAssets(files: changed).version != base.version)

        var renamed = Self.files.mapValues { Array($0.utf8) }.filter { !$0.key.hasPrefix(".") }
        renamed["lib/greet2.js"] = renamed.removeValue(forKey: "lib/greet.js")
        #expect(try StaticAssets(files: renamed).version != base.version)
    }

    @Test func versionedAssetsAreImmutableAndNestedPathsWork() throws {
        let (_, assets) = try load()
        let response = try get(assets, "/v/\(assets.version)/lib/greet.js")
        #expect(response.status == .ok)
        #expect(response.headers["Cache-Control"] == ["public, max-age=31536000, immutable"])
        #expect(response.headers["Content-Type"] == ["text/javascript; charset=utf-8"])
        #expect(text(response.body) == Self.script)
    }

    @Test func otherVersionsAndUnversionedPathsMustRevalidate() throws {
        let (_, assets) = try load()
        for uri in ["/v/0000000000000000/app.js", "/app.js", "/v/\(assets.version)/index.html"] {
            let response = try get(assets, uri)
            #expect(response.status == .ok, "\(uri)")
            #expect(response.headers["Cache-Control"] == ["no-cache"], "\(uri)")
        }
    }

    @Test(arguments: ["/ws", "/health", "/metrics", "/metrics?format=json", "/v/x", "/v/abc/missing.js",
                      "/../index.html", "/v/abc/../app.js", "/.index.html.swp", "*", "http://example.com/", ""])
    func nonAssetsFallThrough(uri: String) throws {
        let (_, assets) = try load()
        #expect(assets.response(method: .GET, uri: uri, headers: [:]) == nil)
    }

    @Test func symlinksOutsideTheRootAreNotServed() throws {
        let outside = try TemporaryWebRoot(files: ["secret.txt": "outside the web root"])
        let web = try TemporaryWebRoot(files: ["index.html": Self.index, "lib/real.js": Self.script])
        let manager = FileManager.default
        try manager.createSymbolicLink(atPath: web.path + "/passwd", withDestinationPath: "/etc/passwd")
        try manager.createSymbolicLink(atPath: web.path + "/secret.txt", withDestinationPath: outside.path + "/secret.txt")
        try manager.createSymbolicLink(atPath: web.path + "/elsewhere", withDestinationPath: outside.path)
        try manager.createSymbolicLink(atPath: web.path + "/alias.js", withDestinationPath: "lib/real.js")
        let files = try StaticAssets.readFiles(root: web.path)
        #expect(Set(files.keys) == ["index.html", "lib/real.js", "alias.js"])
        let assets = try StaticAssets(root: web.path)
        for uri in ["/passwd", "/secret.txt", "/elsewhere/secret.txt"] {
            #expect(assets.response(method: .GET, uri: uri, headers: [:]) == nil, "\(uri)")
        }
        #expect(assets.response(method: .GET, uri: "/alias.js", headers: [:])?.status == .ok)
    }

    @Test func missingIndexIsAnError() throws {
        let root = try TemporaryWebRoot(files: ["app.js": "x"])
        #expect(throws: StaticAssetsError.self) { try StaticAssets(root: root.path) }
        #expect(throws: StaticAssetsError.self) { try StaticAssets(root: root.path + "/nope") }
    }

    // MARK: - gzip

    @Test func gzipRoundTrip() throws {
        let input = Array(String(repeating: "echo echo echo 🦜 ", count: 500).utf8)
        let compressed = try Gzip.compress(input)
        #expect(compressed.count < input.count / 10)
        #expect(compressed.prefix(2) == [0x1f, 0x8b], "gzip magic number")
        #expect(try Gzip.decompress(compressed) == input)
        #expect(try Gzip.decompress(try Gzip.compress([])) == [])
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Array(compressed.prefix(compressed.count / 2))) }
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Array("not gzip at all".utf8)) }
    }

    @Test func gzipIsChosenOnlyWhenAcceptedAndSmaller() throws {
        let (_, assets) = try load()
        let path = "/v/\(assets.version)/app.js"
        let plain = try get(assets, path)
        let zipped = try get(assets, path, headers: [("Accept-Encoding", "br, gzip;q=0.8")])
        #expect(plain.headers["Content-Encoding"].isEmpty)
        #expect(zipped.headers["Content-Encoding"] == ["gzip"])
        #expect(plain.headers["Vary"] == ["Accept-Encoding"])
        #expect(zipped.headers["Vary"] == ["Accept-Encoding"])
        #expect(zipped.body.readableBytes < plain.body.readableBytes)
        #expect(zipped.headers["Content-Length"] == [String(zipped.body.readableBytes)])
        #expect(try Gzip.decompress(Array(buffer: zipped.body)) == Array(buffer: plain.body))
        #expect(zipped.headers["ETag"] != plain.headers["ETag"])

        // Tiny files grow under gzip: they are always sent as they are.
        let tiny = try get(assets, "/v/\(assets.version)/emoji-data.json", headers: [("Accept-Encoding", "gzip")])
        #expect(tiny.headers["Content-Encoding"].isEmpty)
        #expect(tiny.headers["Vary"].isEmpty)
        #expect(text(tiny.body) == "{\"groups\":[]}")
    }

    @Test(arguments: [
        ("gzip", true), ("GZIP", true), ("deflate, gzip", true), ("x-gzip", true), ("*", true),
        ("gzip;q=0", false), ("gzip; q=0.0, *", false), ("*;q=0", false), ("br", false), ("", false),
        ("identity, *;q=0.5", true), ("gzip;q=0.001", true),
    ])
    func acceptEncodingParsing(value: String, accepts: Bool) {
        #expect(StaticAssets.acceptsGzip(HTTPHeaders([("Accept-Encoding", value)])) == accepts)
    }

    @Test func noAcceptEncodingMeansIdentity() {
        #expect(!StaticAssets.acceptsGzip(HTTPHeaders()))
    }

    // MARK: - Headers, conditional requests, methods

    @Test func securityHeadersOnEveryResponse() throws {
        let (_, assets) = try load()
        let etag = try get(assets, "/").headers["ETag"].first!
        let responses = [
            try get(assets, "/"),
            try get(assets, "/v/\(assets.version)/style.css", headers: [("Accept-Encoding", "gzip")]),
            try get(assets, "/favicon.svg", method: .HEAD),
            try get(assets, "/", headers: [("If-None-Match", etag)]),
            try get(assets, "/app.js", method: .POST),
        ]
        for response in responses {
            let csp = try #require(response.headers["Content-Security-Policy"].first)
            #expect(csp.contains("script-src 'self';"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(response.headers["X-Content-Type-Options"] == ["nosniff"])
            #expect(response.headers["Referrer-Policy"] == ["no-referrer"])
        }
    }

    @Test func etagAnswers304() throws {
        let (_, assets) = try load()
        let path = "/v/\(assets.version)/style.css"
        let first = try get(assets, path, headers: [("Accept-Encoding", "gzip")])
        let etag = try #require(first.headers["ETag"].first)
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))

        let again = try get(assets, path, headers: [("Accept-Encoding", "gzip"), ("If-None-Match", "\"other\", W/\(etag)")])
        #expect(again.status == .notModified)
        #expect(again.body.readableBytes == 0)
        #expect(again.headers["ETag"] == [etag])
        #expect(again.headers["Cache-Control"] == ["public, max-age=31536000, immutable"])

        // The identity body has another tag: a gzip tag must not validate it.
        let identity = try get(assets, path, headers: [("If-None-Match", etag)])
        #expect(identity.status == .ok)
        #expect(try get(assets, path, headers: [("If-None-Match", "*")]).status == .notModified)
    }

    @Test func ifNoneMatchParsing() {
        #expect(StaticAssets.ifNoneMatch(HTTPHeaders([("If-None-Match", "\"a\"")]), matches: "\"a\""))
        #expect(StaticAssets.ifNoneMatch(HTTPHeaders([("If-None-Match", "W/\"a\"")]), matches: "\"a\""))
        #expect(StaticAssets.ifNoneMatch(HTTPHeaders([("If-None-Match", "\"b\", \"a\"")]), matches: "\"a\""))
        #expect(!StaticAssets.ifNoneMatch(HTTPHeaders([("If-None-Match", "\"b\"")]), matches: "\"a\""))
        #expect(!StaticAssets.ifNoneMatch(HTTPHeaders(), matches: "\"a\""))
    }

    @Test func headHasTheHeadersOfGetAndNoBody() throws {
        let (_, assets) = try load()
        let path = "/v/\(assets.version)/app.js"
        let get = try get(assets, path, headers: [("Accept-Encoding", "gzip")])
        let head = try self.get(assets, path, method: .HEAD, headers: [("Accept-Encoding", "gzip")])
        #expect(head.status == .ok)
        #expect(head.body.readableBytes == 0)
        #expect(head.headers["Content-Length"] == [String(get.body.readableBytes)])
        #expect(head.headers["Content-Encoding"] == ["gzip"])
        #expect(head.headers["Content-Type"] == get.headers["Content-Type"])
    }

    @Test func otherMethodsAreRefused() throws {
        let (_, assets) = try load()
        let response = try get(assets, "/", method: .POST)
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers["Allow"] == ["GET, HEAD"])
        #expect(assets.response(method: .POST, uri: "/ws", headers: [:]) == nil)
    }

    // MARK: - Locating the folder

    @Test func locateRootPrefersTheConfiguredPath() {
        #expect(StaticAssets.locateRoot(configured: "/srv/echo/web") == "/srv/echo/web")
    }

    @Test func candidateRootsCoverInstallAndBuildLayouts() {
        let candidates = StaticAssets.candidateRoots(
            binaryDirectories: ["/usr/local/bin", "/repo/.build/x86_64-unknown-linux-gnu/debug", "/repo/.build/debug"],
            workingDirectory: "/home/me")
        #expect(candidates.first == "/usr/local/share/echo/web")
        #expect(candidates.contains("/repo/web"))
        #expect(candidates.last == "/home/me/web")
        #expect(Set(candidates).count == candidates.count)
    }

    @Test func locatesTheRepositoryWebFolderFromTheBuildFolder() throws {
        let root = try TemporaryWebRoot(files: ["web/index.html": "x", ".build/debug/echo": ""])
        let found = StaticAssets.candidateRoots(binaryDirectories: [root.path + "/.build/debug"], workingDirectory: "/nonexistent")
            .first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
        #expect(found == URL(fileURLWithPath: root.path + "/web").standardizedFileURL.path)
    }
}
