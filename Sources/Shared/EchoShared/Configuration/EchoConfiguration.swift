import Foundation

/// Everything a worker (and the supervisor) can be configured with, with every default in one place.
///
/// Values come from three layers: a command-line flag beats an environment variable, which beats the
/// default below. The supervisor resolves the configuration once and hands it to each worker as
/// environment variables (``environment``), so a worker started by hand and one started by `echo`
/// read the same names.
public struct EchoConfiguration: Sendable, Equatable {
    public enum LogFormat: String, Sendable, Equatable { case text, json }

    public var host = "0.0.0.0"
    public var port = 8080
    /// `nil` means: no Redis configured. A worker then uses `redis://127.0.0.1:6379`; the
    /// supervisor starts its own private `redis-server` (the embedded default).
    public var redisURL: String? = nil
    /// Chat messages per minute per client IP; 0 turns the limiter off.
    public var rateLimitPerMinute = 60
    /// Token-bucket capacity: how many messages may be sent at once after a quiet period.
    public var rateLimitBurst = 20
    public var historyLimit = 50
    /// Approximate cap of each room's stream (`XADD MAXLEN ~`).
    public var streamMaxLength = 500
    /// A room that has been empty and silent this long expires with all its keys.
    public var roomTTLSeconds = 86_400
    /// How long a connection's presence entry lives without a refresh; a crashed worker's members
    /// disappear after this (no ghost members).
    public var presenceTTLSeconds = 60
    public var maxFrameBytes = 5 * 1024 * 1024
    public var maxImageBytes = 3 * 1024 * 1024
    public var maxMessageLength = 2000
    /// Bytes a connection may have queued for writing before it is closed as a slow consumer (1008).
    public var outboundLimitBytes = 16 * 1024 * 1024
    public var pingIntervalSeconds = 30
    public var redisTimeoutMilliseconds = 2000
    /// Addresses (or CIDR ranges) whose `X-Forwarded-For` is believed. Empty: believe nobody.
    public var trustedProxies: [String] = []
    /// `Origin` values allowed on WebSocket upgrades besides the request's own host (always
    /// allowed); `*` allows any.
    public var allowedOrigins: [String] = []
    public var logFormat: LogFormat = .text
    public var debug = false
    /// Folder of the web client; `nil` looks next to the binary and in the working directory.
    public var webRoot: String? = nil
    public var backlog: Int32 = 4096

    // Defences (docs/security.md). Each is on by default; 0 turns it off. Loopback is not exempt.
    /// Seconds a connection may take to send a complete HTTP request head.
    public var headerTimeoutSeconds = 10
    /// Seconds a WebSocket may stay open without a successful join.
    public var joinTimeoutSeconds = 30
    /// Open connections per client IP, across every worker and host (counted in Redis).
    public var maxConnectionsPerIP = 200
    /// WebSocket handshakes per client IP per second, across every worker and host.
    public var handshakesPerIPPerSecond = 20
    /// Join attempts per client IP per minute, across every worker and host.
    public var joinsPerIPPerMinute = 120
    /// Inbound bytes per connection per second (a token bucket whose burst is one maximum frame).
    public var inboundBytesPerSecond = 1024 * 1024
    /// Where `/metrics` and the detailed `/health` are served (`host:port`); empty turns it off.
    public var adminListen = "127.0.0.1:9090"

    public init() {}

    /// The environment variable each setting is read from (and handed to workers as).
    public enum Key: String, CaseIterable, Sendable {
        case host = "HOST"
        case port = "PORT"
        case redisURL = "REDIS_URL"
        case rateLimit = "ECHO_RATE_LIMIT"
        case rateLimitBurst = "ECHO_RATE_BURST"
        case historyLimit = "ECHO_HISTORY_LIMIT"
        case streamMaxLength = "ECHO_STREAM_MAXLEN"
        case roomTTL = "ECHO_ROOM_TTL"
        case presenceTTL = "ECHO_PRESENCE_TTL"
        case maxFrameBytes = "ECHO_MAX_FRAME_BYTES"
        case maxImageBytes = "ECHO_MAX_IMAGE_BYTES"
        case maxMessageLength = "ECHO_MAX_MESSAGE_LENGTH"
        case outboundLimit = "ECHO_OUTBOUND_LIMIT"
        case pingInterval = "ECHO_PING_INTERVAL"
        case redisTimeout = "ECHO_REDIS_TIMEOUT_MS"
        case trustedProxies = "ECHO_TRUSTED_PROXIES"
        case allowedOrigins = "ECHO_ALLOWED_ORIGINS"
        case environment = "ECHO_ENV"
        case logFormat = "ECHO_LOG_FORMAT"
        case debug = "DEBUG"
        case webRoot = "ECHO_WEB_ROOT"
        case backlog = "ECHO_BACKLOG"
        case headerTimeout = "ECHO_HEADER_TIMEOUT"
        case joinTimeout = "ECHO_JOIN_TIMEOUT"
        case maxConnectionsPerIP = "ECHO_MAX_CONNECTIONS_PER_IP"
        case handshakesPerIP = "ECHO_HANDSHAKES_PER_IP"
        case joinsPerIP = "ECHO_JOINS_PER_IP"
        case inboundBytesPerSecond = "ECHO_INBOUND_BYTES_PER_SECOND"
        case adminListen = "ECHO_ADMIN_LISTEN"
    }

    /// Reads the configuration from `values` (flags already merged over the environment).
    /// Throws ``ConfigurationError`` naming the first bad value.
    public init(values: [String: String]) throws {
        let source = ConfigurationSource(values)
        func int(_ key: Key, _ range: ClosedRange<Int>) throws -> Int? {
            try source.int(key.rawValue, in: range)
        }
        func list(_ key: Key) -> [String]? { source.list(key.rawValue) }
        if let host = source.string(Key.host.rawValue) { self.host = host }
        if let v = try int(.port, 0...65535) { port = v }
        if let url = source.string(Key.redisURL.rawValue) {
            _ = try RedisEndpoint(url: url)
            redisURL = url
        }
        if let v = try int(.rateLimit, 0...1_000_000_000) { rateLimitPerMinute = v }
        if let v = try int(.rateLimitBurst, 1...1_000_000_000) { rateLimitBurst = v }
        if let v = try int(.historyLimit, 1...10_000) { historyLimit = v }
        if let v = try int(.streamMaxLength, 1...10_000_000) { streamMaxLength = v }
        if let v = try int(.roomTTL, 10...31_536_000) { roomTTLSeconds = v }
        if let v = try int(.presenceTTL, 3...86_400) { presenceTTLSeconds = v }
        if let v = try int(.maxFrameBytes, 1024...(256 << 20)) { maxFrameBytes = v }
        if let v = try int(.maxImageBytes, 0...(256 << 20)) { maxImageBytes = v }
        if let v = try int(.maxMessageLength, 1...1_000_000) { maxMessageLength = v }
        if let v = try int(.outboundLimit, 64 * 1024...(1 << 30)) { outboundLimitBytes = v }
        if let v = try int(.pingInterval, 1...3600) { pingIntervalSeconds = v }
        if let v = try int(.redisTimeout, 10...600_000) { redisTimeoutMilliseconds = v }
        if let v = try int(.backlog, 1...65535) { backlog = Int32(v) }
        if let v = try int(.headerTimeout, 0...3600) { headerTimeoutSeconds = v }
        if let v = try int(.joinTimeout, 0...86_400) { joinTimeoutSeconds = v }
        if let v = try int(.maxConnectionsPerIP, 0...10_000_000) { maxConnectionsPerIP = v }
        if let v = try int(.handshakesPerIP, 0...10_000_000) { handshakesPerIPPerSecond = v }
        if let v = try int(.joinsPerIP, 0...10_000_000) { joinsPerIPPerMinute = v }
        if let v = try int(.inboundBytesPerSecond, 0...(1 << 40)) { inboundBytesPerSecond = v }
        if let raw = values[Key.adminListen.rawValue] {
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "0" {
                adminListen = ""
            } else {
                guard AdminAddress(trimmed) != nil else {
                    throw ConfigurationError(key: Key.adminListen.rawValue, value: raw, expected: "host:port (or 0 to turn it off)")
                }
                adminListen = trimmed
            }
        }
        if let v = list(.trustedProxies) {
            for entry in v where IPAddressRange(entry) == nil {
                throw ConfigurationError(key: Key.trustedProxies.rawValue, value: entry, expected: "an IP address or CIDR range")
            }
            trustedProxies = v
        }
        if let v = list(.allowedOrigins) { allowedOrigins = v }
        if values[Key.environment.rawValue] == "production" { logFormat = .json }
        if let raw = source.string(Key.logFormat.rawValue) {
            guard let format = LogFormat(rawValue: raw) else {
                throw ConfigurationError(key: Key.logFormat.rawValue, value: raw, expected: "text or json")
            }
            logFormat = format
        }
        if let raw = source.string(Key.debug.rawValue), raw != "0", raw != "false" { debug = true }
        if let root = source.string(Key.webRoot.rawValue) { webRoot = root }
    }

    /// The settings as environment variables, for handing to a worker process.
    public var environment: [String: String] {
        var env: [String: String] = [
            Key.host.rawValue: host,
            Key.port.rawValue: String(port),
            Key.rateLimit.rawValue: String(rateLimitPerMinute),
            Key.rateLimitBurst.rawValue: String(rateLimitBurst),
            Key.historyLimit.rawValue: String(historyLimit),
            Key.streamMaxLength.rawValue: String(streamMaxLength),
            Key.roomTTL.rawValue: String(roomTTLSeconds),
            Key.presenceTTL.rawValue: String(presenceTTLSeconds),
            Key.maxFrameBytes.rawValue: String(maxFrameBytes),
            Key.maxImageBytes.rawValue: String(maxImageBytes),
            Key.maxMessageLength.rawValue: String(maxMessageLength),
            Key.outboundLimit.rawValue: String(outboundLimitBytes),
            Key.pingInterval.rawValue: String(pingIntervalSeconds),
            Key.redisTimeout.rawValue: String(redisTimeoutMilliseconds),
            Key.trustedProxies.rawValue: trustedProxies.joined(separator: ","),
            Key.allowedOrigins.rawValue: allowedOrigins.joined(separator: ","),
            Key.logFormat.rawValue: logFormat.rawValue,
            Key.debug.rawValue: debug ? "1" : "",
            Key.backlog.rawValue: String(backlog),
            Key.headerTimeout.rawValue: String(headerTimeoutSeconds),
            Key.joinTimeout.rawValue: String(joinTimeoutSeconds),
            Key.maxConnectionsPerIP.rawValue: String(maxConnectionsPerIP),
            Key.handshakesPerIP.rawValue: String(handshakesPerIPPerSecond),
            Key.joinsPerIP.rawValue: String(joinsPerIPPerMinute),
            Key.inboundBytesPerSecond.rawValue: String(inboundBytesPerSecond),
            Key.adminListen.rawValue: adminListen.isEmpty ? "0" : adminListen,
        ]
        if let redisURL { env[Key.redisURL.rawValue] = redisURL }
        if let webRoot { env[Key.webRoot.rawValue] = webRoot }
        return env
    }

    /// The Redis a worker talks to when none is configured.
    public var effectiveRedisURL: String { redisURL ?? "redis://127.0.0.1:6379" }
}

/// `host:port` of the admin listener; IPv6 hosts in brackets (`[::1]:9090`).
public struct AdminAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }
}

public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var key: String
    public var value: String
    public var expected: String
    public init(key: String, value: String, expected: String) {
        self.key = key
        self.value = value
        self.expected = expected
    }
    public var description: String { "\(key)=\(value) is not valid: expected \(expected)" }
}
