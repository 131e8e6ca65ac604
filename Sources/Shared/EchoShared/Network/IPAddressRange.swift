import Foundation

/// An IP address or CIDR range (`10.0.0.0/8`, `::1`), for the trusted-proxy list.
public struct IPAddressRange: Sendable, Equatable {
    let bytes: [UInt8]
    let prefixLength: Int

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let address = Self.parse(String(first)) else { return nil }
        let maxPrefix = address.count * 8
        if parts.count == 2 {
            guard let prefix = Int(parts[1]), (0...maxPrefix).contains(prefix) else { return nil }
            prefixLength = prefix
        } else {
            prefixLength = maxPrefix
        }
        bytes = address
    }

    public func contains(_ address: String) -> Bool {
        guard var candidate = Self.parse(address) else { return false }
        // An IPv4 client seen on a dual-stack socket arrives as ::ffff:a.b.c.d.
        if candidate.count == 16, bytes.count == 4, candidate[0..<12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] {
            candidate = Array(candidate[12...])
        }
        guard candidate.count == bytes.count else { return false }
        var remaining = prefixLength
        for i in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if candidate[i] & mask != bytes[i] & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func parse(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

/// Which address a rate limit and the logs should use for a client.
public enum ClientAddress {
    /// The peer's address, unless the peer is a trusted proxy: then the nearest address in
    /// `X-Forwarded-For` that is not itself a trusted proxy. A client cannot forge its address by
    /// sending the header itself: an untrusted peer's header is ignored.
    public static func resolve(peer: String, forwardedFor: [String], trusted: [IPAddressRange]) -> String {
        guard !trusted.isEmpty, trusted.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = forwardedFor
            .flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { IPAddressRange.parse($0) != nil }
        for hop in hops.reversed() where !trusted.contains(where: { $0.contains(hop) }) {
            return hop
        }
        return hops.first ?? peer
    }
}


extension ClientAddress {
    /// What the per-IP limits count (docs/security.md): an IPv4 address, or the /64 an IPv6
    /// address is in. One host or subscriber usually holds a whole /64, so counting single IPv6
    /// addresses would limit nothing. An IPv4 address seen as `::ffff:a.b.c.d` counts as itself.
    public static func limitKey(_ ip: String) -> String {
        guard let bytes = IPAddressRange.parse(ip), bytes.count == 16 else { return ip }
        if bytes[0..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }
}
