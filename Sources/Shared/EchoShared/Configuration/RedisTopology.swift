/// What `REDIS_URL` names: one Redis, a Redis Cluster reached through seed nodes, or a primary that
/// Sentinels elect.
///
/// - `redis://…`, `rediss://…`, `unix:///…`: one node (``RedisEndpoint``).
/// - `redis+cluster://[user:pass@]host:port,host:port/` (`rediss+cluster://` over TLS): seed nodes;
///   the slot map is read from any of them. Cluster mode has no databases.
/// - `redis+sentinel://[user:pass@]host:port,host:port/<primary-name>` (`rediss+sentinel://`):
///   Sentinels to ask for the primary named `<primary-name>`. The credentials log in to the primary
///   (the Sentinels' own password is `ECHO_REDIS_SENTINEL_PASSWORD`, kept out of the URL).
public enum RedisTopology: Sendable, Equatable, CustomStringConvertible {
    case single(RedisEndpoint)
    case cluster(seeds: [RedisEndpoint])
    case sentinel(sentinels: [RedisEndpoint], primaryName: String)

    public init(url: String) throws {
        func bad(_ why: String) -> ConfigurationError {
            ConfigurationError(key: "REDIS_URL", value: url, expected: why)
        }
        for (scheme, isCluster) in [("redis+cluster://", true), ("rediss+cluster://", true), ("redis+sentinel://", false), ("rediss+sentinel://", false)] {
            guard url.hasPrefix(scheme) else { continue }
            let plain = scheme.hasPrefix("rediss") ? "rediss://" : "redis://"
            var rest = Substring(url.dropFirst(scheme.count))
            var credentials = ""
            if let at = rest.lastIndex(of: "@") {
                credentials = String(rest[...at])
                rest = rest[rest.index(after: at)...]
            }
            var path = Substring("")
            if let slash = rest.firstIndex(of: "/") {
                path = rest[rest.index(after: slash)...]
                rest = rest[..<slash]
            }
            let hosts = rest.split(separator: ",", omittingEmptySubsequences: false)
            guard !hosts.isEmpty, hosts.allSatisfy({ !$0.isEmpty }) else {
                throw bad("\(scheme)host:port[,host:port...]/\(isCluster ? "" : "<primary-name>")")
            }
            let nodes = try hosts.map { try RedisEndpoint(url: plain + credentials + $0) }
            if isCluster {
                guard path.isEmpty || path == "0" else { throw bad("no database number: Redis Cluster has only database 0") }
                self = .cluster(seeds: nodes)
            } else {
                guard !path.isEmpty, !path.contains("/") else { throw bad("the primary's name after the last / (redis+sentinel://host:26379/mymaster)") }
                self = .sentinel(sentinels: nodes, primaryName: String(path))
            }
            return
        }
        self = .single(try RedisEndpoint(url: url))
    }

    /// Every endpoint the URL names (the one node, the seeds, or the Sentinels).
    public var endpoints: [RedisEndpoint] {
        switch self {
        case .single(let endpoint): [endpoint]
        case .cluster(let seeds): seeds
        case .sentinel(let sentinels, _): sentinels
        }
    }

    /// Whether Echo talks TLS to this Redis (the node, every seed, or the primary).
    public var usesTLS: Bool { endpoints[0].usesTLS }

    /// Whether a room's keys must share one hash slot (``RedisTopology/cluster(seeds:)``).
    public var isCluster: Bool {
        if case .cluster = self { return true }
        return false
    }

    /// The URL without passwords, for logs and `/health`.
    public var description: String {
        switch self {
        case .single(let endpoint):
            return endpoint.description
        case .cluster(let seeds):
            return "\(usesTLS ? "rediss" : "redis")+cluster://" + seeds.map(\.hostAndPort).joined(separator: ",") + "/"
        case .sentinel(let sentinels, let name):
            return "\(usesTLS ? "rediss" : "redis")+sentinel://" + sentinels.map(\.hostAndPort).joined(separator: ",") + "/\(name)"
        }
    }
}

extension RedisEndpoint {
    /// `host:port` (`[v6]:port`), or the socket path.
    public var hostAndPort: String {
        switch address {
        case .tcp(let host, let port): return (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        case .unix(let path): return path
        }
    }
}
