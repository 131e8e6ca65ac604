import ArgumentParser

/// Command-line flags shared by `echo` and `echo-worker`. Each flag overrides the environment
/// variable named in its help; ``EchoConfiguration`` holds the defaults.
public struct EchoOptions: ParsableArguments, Sendable {
    @Option(help: "Address to listen on (HOST, default 0.0.0.0).") public var host: String?
    @Option(help: "Port to listen on (PORT, default 8080).") public var port: Int?
    @Option(help: "redis://[user:pass@]host:port[/db] or unix:///path (REDIS_URL).") public var redisURL: String?
    @Option(help: "Chat messages per minute per client IP, 0 = off (ECHO_RATE_LIMIT, default 60).") public var rateLimit: Int?
    @Option(help: "Rate-limit burst size (ECHO_RATE_BURST, default 20).") public var rateBurst: Int?
    @Option(help: "Messages sent on join (ECHO_HISTORY_LIMIT, default 50).") public var historyLimit: Int?
    @Option(help: "Approximate cap of a room's history (ECHO_STREAM_MAXLEN, default 500).") public var streamMaxlen: Int?
    @Option(help: "Seconds an empty, silent room lives (ECHO_ROOM_TTL, default 86400).") public var roomTTL: Int?
    @Option(help: "Seconds a member stays without a refresh (ECHO_PRESENCE_TTL, default 60).") public var presenceTTL: Int?
    @Option(help: "Largest WebSocket message in bytes (ECHO_MAX_FRAME_BYTES, default 5 MiB).") public var maxFrameBytes: Int?
    @Option(help: "Bytes queued to one client before it is closed (ECHO_OUTBOUND_LIMIT, default 16 MiB).") public var outboundLimit: Int?
    @Option(help: "Seconds between WebSocket pings (ECHO_PING_INTERVAL, default 30).") public var pingInterval: Int?
    @Option(help: "Comma-separated proxies whose X-Forwarded-For is believed (ECHO_TRUSTED_PROXIES).") public var trustedProxies: String?
    @Option(help: "Comma-separated allowed WebSocket origins (ECHO_ALLOWED_ORIGINS).") public var allowedOrigins: String?
    @Option(help: "text or json (ECHO_LOG_FORMAT; ECHO_ENV=production means json).") public var logFormat: String?
    @Option(help: "Folder of the web client (ECHO_WEB_ROOT).") public var webRoot: String?
    @Flag(help: "Log at debug level (DEBUG).") public var debug = false

    public init() {}

    /// Flags laid over `environment`: the values ``EchoConfiguration/init(values:)`` reads.
    public func merged(over environment: [String: String]) -> [String: String] {
        typealias Key = EchoConfiguration.Key
        var values = environment
        func put(_ key: Key, _ value: CustomStringConvertible?) {
            if let value { values[key.rawValue] = value.description }
        }
        put(.host, host)
        put(.port, port)
        put(.redisURL, redisURL)
        put(.rateLimit, rateLimit)
        put(.rateLimitBurst, rateBurst)
        put(.historyLimit, historyLimit)
        put(.streamMaxLength, streamMaxlen)
        put(.roomTTL, roomTTL)
        put(.presenceTTL, presenceTTL)
        put(.maxFrameBytes, maxFrameBytes)
        put(.outboundLimit, outboundLimit)
        put(.pingInterval, pingInterval)
        put(.trustedProxies, trustedProxies)
        put(.allowedOrigins, allowedOrigins)
        put(.logFormat, logFormat)
        put(.webRoot, webRoot)
        if debug { values[Key.debug.rawValue] = "1" }
        return values
    }

    public func configuration(environment: [String: String]) throws -> EchoConfiguration {
        try EchoConfiguration(values: merged(over: environment))
    }
}
