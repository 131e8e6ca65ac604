import Foundation

/// Which `Origin` may open a WebSocket (cross-site WebSocket hijacking: a page on another site
/// connecting with the visitor's network position).
///
/// - No `Origin` header: allowed. Browsers always send one on a WebSocket upgrade; tools and
///   servers without one are not the cross-site threat this guards against.
/// - The request's own host: allowed when the origin's `host[:port]` equals the `Host` header
///   (scheme `http` or `https`; a default port may be written or left out on either side).
/// - Anything in `allowed` (exact, case-insensitive), or anything at all when it holds `*`.
/// - Everything else, `null` included: refused (403).
public struct OriginPolicy: Sendable, Equatable {
    public var allowed: [String]

    public init(allowed: [String]) {
        self.allowed = allowed.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func allows(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        if allowed.contains(where: { $0 == "*" || $0.caseInsensitiveCompare(origin) == .orderedSame }) { return true }
        guard let host, let (scheme, authority) = Self.split(origin: origin) else { return false }
        let defaultPort = scheme == "https" ? "443" : "80"
        return Self.normalize(authority, defaultPort: defaultPort) == Self.normalize(host, defaultPort: defaultPort)
    }

    /// `http://Example.com:8080` → (`http`, `example.com:8080`); nil for other schemes or any
    /// path, query or user part (a browser's Origin never has them).
    static func split(origin: String) -> (scheme: String, authority: String)? {
        let lower = origin.lowercased()
        for scheme in ["http", "https"] where lower.hasPrefix(scheme + "://") {
            let authority = String(lower.dropFirst(scheme.count + 3))
            guard !authority.isEmpty, !authority.contains(where: { "/?#@ ".contains($0) }) else { return nil }
            return (scheme, authority)
        }
        return nil
    }

    /// Lower case, without the scheme's default port (`example.com:443` = `example.com` for https).
    static func normalize(_ authority: String, defaultPort: String) -> String {
        let lower = authority.trimmingCharacters(in: .whitespaces).lowercased()
        let suffix = ":" + defaultPort
        return lower.hasSuffix(suffix) ? String(lower.dropLast(suffix.count)) : lower
    }
}
