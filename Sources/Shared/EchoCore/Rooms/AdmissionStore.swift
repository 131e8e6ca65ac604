import EchoShared
import NIOCore

/// The per-IP limits of one configuration, as the scripts take them. A nil or 0 limit is off.
public struct AdmissionLimits: Sendable, Equatable {
    public struct Bucket: Sendable, Equatable {
        /// Tokens at once: one full period's worth (a second of handshakes, a minute of joins).
        public var capacity: Int
        public var ratePerMinute: Int
    }

    public var maxConnections: Int
    public var handshakes: Bucket?
    public var joins: Bucket?
    /// How long a worker's count of an IP lives in Redis without a refresh: a crashed worker's
    /// connections stop counting after this.
    public var connectionTTLMilliseconds = 60_000
    /// How often a worker rewrites its counts (a third of the TTL, like presence).
    public var refreshMilliseconds: Int { connectionTTLMilliseconds / 3 }

    public init(_ configuration: EchoConfiguration) {
        maxConnections = configuration.maxConnectionsPerIP
        let perSecond = configuration.handshakesPerIPPerSecond
        handshakes = perSecond > 0 ? Bucket(capacity: perSecond, ratePerMinute: perSecond * 60) : nil
        let perMinute = configuration.joinsPerIPPerMinute
        joins = perMinute > 0 ? Bucket(capacity: perMinute, ratePerMinute: perMinute) : nil
    }

    /// The same bucket as the scripts keep in Redis, for reasoning and tests without Redis.
    public func localBucket(_ bucket: Bucket, nowMilliseconds: Int) -> TokenBucket {
        TokenBucket(capacity: bucket.capacity, ratePerMinute: bucket.ratePerMinute, nowMilliseconds: nowMilliseconds)
    }
}

public enum AdmissionOutcome: Sendable, Equatable {
    case admitted
    /// The IP has as many open connections as allowed (`others` held by other workers).
    case tooManyConnections(others: Int)
    case rateLimited(retryAfterMilliseconds: Int)
}

/// The per-IP counts in Redis, shared by every worker and host. One round trip per check.
public struct AdmissionStore: Sendable {
    public let redis: any RedisCommands
    /// The key layout (the same as the room store's).
    public let keys: RoomKeys
    /// This worker process's field in the connection hashes (unique across hosts).
    public let instance: String

    public init(redis: any RedisCommands, keys: RoomKeys, instance: String) {
        self.redis = redis
        self.keys = keys
        self.instance = instance
    }

    public static let scripts = [AdmitScript.script, HoldScript.script]

    /// Checks (and on success records) one more connection of `ip`, holding `count` on this worker
    /// in all, against `maxConnections`; and takes a token from `bucket` (``RoomKeys/handshakes(_:)``
    /// or ``RoomKeys/joins(_:)`` of the same IP). Either may be nil.
    public func admit(
        ip: String, connections: (count: Int, max: Int, ttlMilliseconds: Int)?,
        bucket: (key: String, limits: AdmissionLimits.Bucket)?
    ) -> EventLoopFuture<AdmissionOutcome> {
        redis.run(AdmitScript(roomKeys: keys, ip: ip, instance: instance, connections: connections, bucket: bucket))
    }

    /// Writes this worker's count of `ip`'s open connections (0 removes it).
    public func hold(ip: String, count: Int, ttlMilliseconds: Int) -> EventLoopFuture<Void> {
        redis.run(HoldScript(roomKeys: keys, ip: ip, instance: instance, count: count, ttlMilliseconds: ttlMilliseconds))
    }
}
