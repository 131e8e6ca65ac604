/// What Redis Sentinels say about a primary, as values. Pure: ``RedisSentinel`` does the I/O.
public enum SentinelReply {
    /// A primary's address as a Sentinel gives it (an IP, or a host name with
    /// `sentinel resolve-hostnames yes`).
    public struct Address: Equatable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// A `+switch-master` event: the Sentinels elected `new` in place of `old` for `name`.
    public struct Switch: Equatable, Sendable {
        public var name: String
        public var old: Address
        public var new: Address
    }

    /// The reply to `SENTINEL get-master-addr-by-name <name>`: `[ip, port]`, or a null reply when
    /// the Sentinel watches no primary of that name (`nil` here). Anything else is not a Sentinel
    /// speaking: an error.
    public static func primaryAddress(_ reply: RESPValue) throws -> Address? {
        if case .null = reply { return nil }
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string, !host.isEmpty,
              let port = parts[1].int, (1...65535).contains(port)
        else {
            throw RedisError(.protocolError, "not a Sentinel's answer to get-master-addr-by-name: \(reply)")
        }
        return Address(host: host, port: port)
    }

    /// Why no Sentinel named a primary, for `/health` and the log: `unknownTo` lists the
    /// Sentinels that know no primary of that name, `failures` those that could not be asked
    /// (`host:port: why`). A wrong name is said plainly when every Sentinel answered.
    public static func noPrimary(named name: String, unknownTo: [String], failures: [String]) -> String {
        if failures.isEmpty {
            return "no Sentinel knows a primary named \"\(name)\" (asked \(unknownTo.joined(separator: ", ")))"
        }
        let unknown = unknownTo.map { "\($0): no primary of that name" }
        return "no Sentinel named the primary \"\(name)\": " + (unknown + failures).joined(separator: "; ")
    }

    /// The payload of a message on `+switch-master`: `<name> <old-ip> <old-port> <new-ip> <new-port>`.
    /// A primary's name has no spaces (Sentinel refuses them), so the five words split plainly.
    public static func switchMaster(_ payload: String) -> Switch? {
        let words = payload.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count == 5, let oldPort = Int(words[2]), let newPort = Int(words[4]),
              (1...65535).contains(oldPort), (1...65535).contains(newPort)
        else { return nil }
        return Switch(
            name: String(words[0]), old: Address(host: String(words[1]), port: oldPort),
            new: Address(host: String(words[3]), port: newPort))
    }
}
