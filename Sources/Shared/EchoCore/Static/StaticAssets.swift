import Foundation
import NIOCore
import NIOHTTP1

/// The web client, loaded into memory once and served by every worker.
///
/// Versioned URLs without a build step: one content hash over every file names the version, each
/// asset is served under `/v/<version>/<path>` with a one-year immutable cache, and `index.html`
/// (a template whose `{{ASSET_BASE}}` is replaced by `/v/<version>`) is served at `/` with
/// `no-cache`. A deployment with new files therefore changes every asset URL at once, and relative
/// ES module imports resolve under the same version without the modules knowing it.
///
/// Everything, including the gzip variant, is prepared in `init`, so a request is a dictionary
/// lookup and a header choice: no disk, no compression, nothing to lock.
public final class StaticAssets: Sendable {
    /// The content hash of every file, as it appears in asset URLs.
    public let version: String
    /// `/v/<version>`: what `{{ASSET_BASE}}` in an HTML template becomes.
    public var assetBase: String { "/v/\(version)" }
    /// Every file by its path relative to the root (`app.js`, `icons/echo.svg`).
    let assets: [String: StaticAsset]

    static let templatePlaceholder = "{{ASSET_BASE}}"
    static let indexPath = "index.html"

    /// Sent on every static response. `require-trusted-types-for` turns any accidental HTML string
    /// sink (`innerHTML` and friends) into an exception: the client only ever sets text.
    public static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy",
         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            + "connect-src 'self' ws: wss:; font-src 'self'; manifest-src 'self'; form-action 'self'; "
            + "frame-ancestors 'none'; base-uri 'none'; object-src 'none'; require-trusted-types-for 'script'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]

    static let immutableCacheControl = "public, max-age=31536000, immutable"
    static let revalidateCacheControl = "no-cache"

    /// Loads every non-hidden file under `root`. Throws when the folder cannot be read or has no `index.html`.
    public convenience init(root: String) throws {
        try self.init(files: Self.readFiles(root: root), root: root)
    }

    /// The pure half of loading: from file contents to ready responses (tests use it without a disk).
    init(files: [String: [UInt8]], root: String = "(memory)") throws {
        guard files[Self.indexPath] != nil else {
            throw StaticAssetsError(code: .missingIndex, path: root)
        }
        var hash = ContentHash()
        for path in files.keys.sorted() {
            hash.update(field: Array(path.utf8))
            hash.update(field: files[path]!)
        }
        let version = hash.hex
        self.version = version

        var assets: [String: StaticAsset] = [:]
        for (path, bytes) in files {
            let contentType = ContentType.forPath(path)
            var body = bytes
            if contentType.hasPrefix("text/html") {
                body = Array(Self.renderTemplate(String(decoding: bytes, as: UTF8.self), assetBase: "/v/\(version)").utf8)
            }
            assets[path] = try StaticAsset(bytes: body, contentType: contentType)
        }
        self.assets = assets
    }

    /// Replaces each `{{ASSET_BASE}}` so that `{{ASSET_BASE}}/app.js` becomes `/v/<version>/app.js`.
    static func renderTemplate(_ template: String, assetBase: String) -> String {
        template.replacingOccurrences(of: templatePlaceholder, with: assetBase)
    }

    // MARK: - Answering requests

    /// The response for a static asset, or `nil` when `uri` names none (so `/ws`, `/health` and
    /// `/metrics` fall through to their own handlers).
    public func response(method: HTTPMethod, uri: String, headers: HTTPHeaders) -> StaticResponse? {
        guard let (path, caching) = resolve(uri: uri), let asset = assets[path] else { return nil }

        var responseHeaders = HTTPHeaders(Self.securityHeaders)
        guard method == .GET || method == .HEAD else {
            responseHeaders.add(name: "Allow", value: "GET, HEAD")
            responseHeaders.add(name: "Content-Length", value: "0")
            return StaticResponse(status: .methodNotAllowed, headers: responseHeaders, body: ByteBuffer())
        }

        let representation = asset.representation(acceptsGzip: Self.acceptsGzip(headers))
        responseHeaders.add(name: "Cache-Control", value: caching.headerValue)
        responseHeaders.add(name: "ETag", value: representation.etag)
        if asset.gzipped != nil {
            // Caches must keep the gzip and identity bodies apart.
            responseHeaders.add(name: "Vary", value: "Accept-Encoding")
        }

        if Self.ifNoneMatch(headers, matches: representation.etag) {
            return StaticResponse(status: .notModified, headers: responseHeaders, body: ByteBuffer())
        }

        responseHeaders.add(name: "Content-Type", value: asset.contentType)
        if representation.isGzip {
            responseHeaders.add(name: "Content-Encoding", value: "gzip")
        }
        responseHeaders.add(name: "Content-Length", value: String(representation.body.readableBytes))
        return StaticResponse(status: .ok, headers: responseHeaders,
                              body: method == .HEAD ? ByteBuffer() : representation.body)
    }

    enum Caching: Equatable {
        /// The URL names this exact content: it can never change.
        case immutable
        /// The URL outlives the content (`/`, an unversioned path, another deployment's version).
        case revalidate

        var headerValue: String {
            switch self {
            case .immutable: StaticAssets.immutableCacheControl
            case .revalidate: StaticAssets.revalidateCacheControl
            }
        }
    }

    /// Maps a request target to an asset path and how long it may be cached.
    ///
    /// A versioned URL of another deployment (a page loaded from a worker that was just replaced in
    /// a rolling reload) still gets today's file, but with `no-cache`, so no cache pins the wrong
    /// content under that version for a year.
    func resolve(uri: String) -> (path: String, caching: Caching)? {
        var target = Substring(uri)
        if let end = target.firstIndex(where: { $0 == "?" || $0 == "#" }) { target = target[..<end] }
        guard target.hasPrefix("/"), let decoded = String(target).removingPercentEncoding else { return nil }
        let components = decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        // ".." never names a loaded file anyway (lookup is by exact key); refusing it early keeps it that way.
        guard !components.contains(where: { $0 == ".." || $0 == "." }) else { return nil }

        if decoded == "/" { return (Self.indexPath, .revalidate) }
        if components.first == "v", components.count >= 3 {
            let version = components.dropFirst().first!
            let path = components.dropFirst(2).joined(separator: "/")
            guard let asset = assets[path] else { return nil }
            let current = version == self.version && !asset.isTemplate
            return (path, current ? .immutable : .revalidate)
        }
        let path = components.joined(separator: "/")
        return assets[path] == nil ? nil : (path, .revalidate)
    }

    // MARK: - Header parsing

    /// True when `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*` with a non-zero q).
    static func acceptsGzip(_ headers: HTTPHeaders) -> Bool {
        var gzip: Bool?
        var wildcard: Bool?
        for value in headers[canonicalForm: "Accept-Encoding"] {
            let parts = value.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let coding = parts.first else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.hasPrefix("q=") {
                q = Double(parameter.dropFirst(2)) ?? 0
            }
            switch coding {
            case "gzip", "x-gzip": gzip = q > 0
            case "*": wildcard = q > 0
            default: break
            }
        }
        return gzip ?? wildcard ?? false
    }

    /// `If-None-Match` with weak comparison (RFC 9110 §13.1.2): `*` or any listed tag equal to `etag`.
    static func ifNoneMatch(_ headers: HTTPHeaders, matches etag: String) -> Bool {
        let ours = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        for value in headers[canonicalForm: "If-None-Match"] {
            let tag = value.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            let theirs = tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
            if theirs == ours { return true }
        }
        return false
    }
}

/// One file, ready to send in each encoding worth having.
struct StaticAsset: Sendable {
    struct Representation {
        var body: ByteBuffer
        var etag: String
        var isGzip: Bool
    }

    let contentType: String
    let identity: ByteBuffer
    let etag: String
    /// Only kept when it is smaller than the identity body.
    let gzipped: ByteBuffer?
    let isTemplate: Bool

    init(bytes: [UInt8], contentType: String) throws {
        self.contentType = contentType
        self.isTemplate = contentType.hasPrefix("text/html")
        identity = ByteBuffer(bytes: bytes)
        let hash = ContentHash.of(bytes)
        etag = "\"\(hash)\""
        if ContentType.isCompressible(contentType), !bytes.isEmpty {
            let compressed = try Gzip.compress(bytes)
            gzipped = compressed.count < bytes.count ? ByteBuffer(bytes: compressed) : nil
        } else {
            gzipped = nil
        }
    }

    func representation(acceptsGzip: Bool) -> Representation {
        if acceptsGzip, let gzipped {
            // A different body needs a different tag, or a cache could answer one with the other.
            return Representation(body: gzipped, etag: "\"\(etag.dropFirst().dropLast())-gz\"", isGzip: true)
        }
        return Representation(body: identity, etag: etag, isGzip: false)
    }
}

public struct StaticAssetsError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case unreadableRoot
        case unreadableFile
        case missingIndex
    }

    public var code: Code
    public var path: String

    public var description: String {
        switch code {
        case .unreadableRoot: "web client folder \(path) cannot be read"
        case .unreadableFile: "web client file \(path) cannot be read"
        case .missingIndex: "web client folder \(path) has no index.html"
        }
    }
}
