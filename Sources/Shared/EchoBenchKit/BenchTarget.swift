
/// A WebSocket URL echo-bench may connect to. Only loopback is accepted: the generator opens
/// thousands of connections as fast as it can, which must never reach another machine by mistake.
public struct BenchTarget: Sendable, Equatable, CustomStringConvertible {
    /// An IPv4 address in 127.0.0.0/8 or `::1`, as a literal.
    public var host: String
    public var port: Int
    /// Request path, `/ws` unless the URL says otherwise.
    public var path: String
    /// `wss://`: the connection speaks TLS before the upgrade.
    public var tls: Bool

    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(tls ? "wss" : "ws")://\(shown):\(port)\(path)"
    }

    /// Parses `ws://host[:port][/path]` or `wss://...`. `localhost` means 127.0.0.1 (it is never
    /// resolved, so no resolver configuration can send it elsewhere).
    public init(parsing url: String) throws(BenchTargetError) {
        let lowered = url.lowercased()
        if lowered.hasPrefix("ws://") {
            tls = false
        } else if lowered.hasPrefix("wss://") {
            tls = true
        } else {
            throw BenchTargetError(url: url, reason: "only ws:// and wss:// URLs are supported")
        }
        let rest = url.dropFirst(tls ? 6 : 5)
        let authority: Substring
        if let slash = rest.firstIndex(of: "/") {
            authority = rest[..<slash]
            path = String(rest[slash...])
        } else {
            authority = rest
            path = "/ws"
        }
        var hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw BenchTargetError(url: url, reason: "unclosed [ in host")
            }
            hostPart = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portPart = after.dropFirst() } else if !after.isEmpty {
                throw BenchTargetError(url: url, reason: "unexpected text after ]")
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = authority
        }
        if hostPart.lowercased() == "localhost" { hostPart = "127.0.0.1" }
        guard Self.isLoopback(String(hostPart)) else {
            throw BenchTargetError(url: url, reason: "host \(hostPart) is not a loopback address (127.0.0.0/8 or ::1)")
        }
        host = String(hostPart)
        if let portPart {
            guard let value = Int(portPart), (1...65535).contains(value) else {
                throw BenchTargetError(url: url, reason: "bad port \(portPart)")
            }
            port = value
        } else {
            port = tls ? 443 : 80
        }
    }

    /// True for a dotted-quad literal in 127.0.0.0/8 or for `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        var octets: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let value = Int(part), (0...255).contains(value) else {
                return false
            }
            octets.append(value)
        }
        return octets[0] == 127
    }

    /// The n-th source address of `count` (127.0.0.1, 127.0.0.2, ...): spreading connections over
    /// several source addresses multiplies the ~28k ephemeral ports one address offers.
    public static func sourceAddress(index: Int, count: Int) -> String {
        "127.0.0.\(1 + index % max(1, min(count, 254)))"
    }
}

public struct BenchTargetError: Error, Equatable, CustomStringConvertible {
    public var url: String
    public var reason: String
    public var description: String { "\(url): \(reason)" }
}
