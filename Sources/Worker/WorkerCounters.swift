import EchoCore
import Metrics

/// The worker's figures. Incremented as plain integers on the event loop (no atomics on the hot
/// path) and pushed into swift-metrics, and so into the Prometheus registry, by ``publish()``.
struct WorkerCounters {
    var messagesIn = 0
    var messagesOut = 0
    var errors: [ProtocolError.Code: Int] = [:]
    var rateLimited = 0
    var slowConsumerCloses = 0
    var rateLimiterUnavailable = 0
    /// WebSockets closed because they joined no room within `ECHO_JOIN_TIMEOUT`.
    var joinTimeoutCloses = 0
    /// WebSockets closed 1002 for a frame RFC 6455 forbids (unmasked, reserved bits set).
    var protocolErrorCloses = 0
    /// Chats stored without the `ECHO_REDIS_WAIT_REPLICAS` replicas confirming them in time.
    var chatsUnreplicated = 0

    var errorTotal: Int { errors.values.reduce(0, +) }
}

/// The swift-metrics side of ``WorkerCounters``: each publish adds what changed since the last.
struct WorkerMetrics {
    private var published = WorkerCounters()
    private var publishedReconnects = 0
    private let messagesIn = Counter(label: "echo_messages_in_total")
    private let messagesOut = Counter(label: "echo_messages_out_total")
    private let rateLimited = Counter(label: "echo_rate_limited_total")
    private let slowConsumers = Counter(label: "echo_slow_consumer_closes_total")
    private let limiterUnavailable = Counter(label: "echo_rate_limiter_unavailable_total")
    private let joinTimeouts = Counter(label: "echo_join_timeout_closes_total")
    private let protocolErrors = Counter(label: "echo_protocol_error_closes_total")
    private let redisReconnects = Counter(label: "echo_redis_reconnects_total")
    private let chatsUnreplicated = Counter(label: "echo_chat_unreplicated_total")
    private let connections = Gauge(label: "echo_connections")
    private let rooms = Gauge(label: "echo_rooms")
    private let redisUp = Gauge(label: "echo_redis_up")

    mutating func publish(_ c: WorkerCounters, connections: Int, rooms: Int, redisConnected: Bool, reconnects: Int) {
        messagesIn.increment(by: c.messagesIn - published.messagesIn)
        messagesOut.increment(by: c.messagesOut - published.messagesOut)
        rateLimited.increment(by: c.rateLimited - published.rateLimited)
        slowConsumers.increment(by: c.slowConsumerCloses - published.slowConsumerCloses)
        limiterUnavailable.increment(by: c.rateLimiterUnavailable - published.rateLimiterUnavailable)
        joinTimeouts.increment(by: c.joinTimeoutCloses - published.joinTimeoutCloses)
        protocolErrors.increment(by: c.protocolErrorCloses - published.protocolErrorCloses)
        redisReconnects.increment(by: reconnects - publishedReconnects)
        chatsUnreplicated.increment(by: c.chatsUnreplicated - published.chatsUnreplicated)
        for (code, count) in c.errors where count != published.errors[code, default: 0] {
            Counter(label: "echo_errors_total", dimensions: [("code", code.rawValue)])
                .increment(by: count - published.errors[code, default: 0])
        }
        self.connections.record(connections)
        self.rooms.record(rooms)
        redisUp.record(redisConnected ? 1 : 0)
        published = c
        publishedReconnects = reconnects
    }
}
