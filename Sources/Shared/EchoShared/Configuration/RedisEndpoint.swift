/// Where Redis is and how to log in, parsed from `redis://[user:pass@]host:port[/db]`,
/// `rediss://…` (the same over TLS) or `unix:///path/to/redis.sock[?db=N]`.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var username: String?
    public var password: String?
    public var database: Int
    /// `rediss://`: the connection speaks TLS, and Redis must prove who it is (TCP only).
    public var usesTLS: Bool

    public init(address: Address, username: String? = nil, password: String? = nil, database: Int = 0, usesTLS: Bool = false) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.usesTLS = usesTLS
    }

    /// The host name a TLS connection checks Redis's certificate against unless told another:
    /// the URL's host (a unix socket has none).
    public var host: String? {
        guard case .tcp(let host, _) = address else { return nil }
        return host
    }

    public init(url: String) throws {
        func bad(_ why: String) -> ConfigurationError {
            ConfigurationError(key: "REDIS_URL", value: url, expected: why)
        }
        if url.hasPrefix("unix://") {
            var rest = Substring(url.dropFirst("unix://".count))
            var database = 0
            if let q = rest.firstIndex(of: "?") {
                let query = rest[rest.index(after: q)...]
                rest = rest[..<q]
                for pair in query.split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, kv[0] == "db" {
                        guard let db = Int(kv[1]), db >= 0 else { throw bad("a database number after db=") }
                        database = db
                    }
                }
            }
            guard rest.hasPrefix("/") else { throw bad("unix:///absolute/path/to/redis.sock") }
            self.init(address: .unix(path: String(rest)), database: database)
            return
        }
        let usesTLS = url.hasPrefix("rediss://")
        guard usesTLS || url.hasPrefix("redis://") else { throw bad("redis://host:port[/db], rediss://host:port[/db] or unix:///path") }
        var rest = Substring(url.dropFirst(usesTLS ? "rediss://".count : "redis://".count))
        var username: String? = nil
        var password: String? = nil
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                username = user.isEmpty ? nil : String(user).removingPercentEncodingSafely
                password = String(credentials[credentials.index(after: colon)...]).removingPercentEncodingSafely
            } else if !credentials.isEmpty {
                // redis://secret@host is the password form used by many clients.
                password = String(credentials).removingPercentEncodingSafely
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw bad("a database number after the last /") }
                database = n
            }
        }
        var host = String(rest)
        var port = 6379
        if host.hasPrefix("[") {
            // [::1]:6379
            guard let close = host.firstIndex(of: "]") else { throw bad("a closing ] in an IPv6 address") }
            let after = host[host.index(after: close)...]
            let inside = host[host.index(after: host.startIndex)..<close]
            if after.hasPrefix(":") {
                guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw bad("a port in 1...65535") }
                port = p
            }
            host = String(inside)
        } else if let colon = host.lastIndex(of: ":") {
            guard let p = Int(host[host.index(after: colon)...]), (1...65535).contains(p) else {
                throw bad("a port in 1...65535")
            }
            port = p
            host = String(host[..<colon])
        }
        if host.isEmpty { host = "127.0.0.1" }
        self.init(address: .tcp(host: host, port: port), username: username, password: password, database: database, usesTLS: usesTLS)
    }

    /// The endpoint without its password, for logs.
    public var description: String {
        let auth = password == nil ? "" : "\(username ?? ""):***@"
        switch address {
        case .tcp(let host, let port):
            let h = host.contains(":") ? "[\(host)]" : host
            return "\(usesTLS ? "rediss" : "redis")://\(auth)\(h):\(port)/\(database)"
        case .unix(let path):
            return "unix://\(path)" + (database == 0 ? "" : "?db=\(database)")
        }
    }
}

extension String {
    /// Percent-decoding for URL credentials, leaving malformed escapes as they are.
    var removingPercentEncodingSafely: String {
        guard contains("%") else { return self }
        let input = Array(utf8)
        var bytes: [UInt8] = []
        var i = 0
        while i < input.count {
            if input[i] == UInt8(ascii: "%"), i + 2 < input.count,
               let value = UInt8(String(decoding: input[(i + 1)...(i + 2)], as: UTF8.self), radix: 16) {
                bytes.append(value)
                i += 3
            } else {
                bytes.append(input[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
