import Foundation

/// Everything a worker (and the supervisor) can be configured with, with every default in one place.
///
/// Values come from three layers: a command-line flag beats an environment variable, which beats the
/// default below. Each setting's names, range and help are declared once, in ``settings``
/// (EchoConfiguration+Settings.swift). The supervisor resolves the configuration once and hands it
/// to each worker as environment variables (``environment``), so a worker started by hand and one
/// started by `echo` read the same names.
public struct EchoConfiguration: SettingsConfiguration, Equatable {
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
    /// How long after writing a message its author may edit it.
    public var editWindowSeconds = 900
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
    /// Replicas that must confirm each chat (`WAIT`) before it is acknowledged; 0 turns it off.
    public var redisWaitReplicas = 0
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

    // TLS (docs/operations.md, "TLS"). With a certificate and key the port serves only https/wss.
    /// PEM certificate chain (leaf first); `nil` serves plain HTTP.
    public var tlsCertificatePath: String? = nil
    /// PEM private key of the certificate.
    public var tlsKeyPath: String? = nil
    /// PEM CA bundle: when set, clients must present a certificate it signed.
    public var tlsClientCAPath: String? = nil
    /// `openssl`: OpenSSL protects every record. `compact`: after a TLS 1.3 handshake the worker
    /// frees the connection's SSL object and protects records itself with OpenSSL's AEAD ciphers.
    public var tlsRecords = "openssl"
    /// A second port that answers plain HTTP with a 308 to https (and ACME challenges).
    public var httpRedirectPort: Int? = nil
    /// Folder served at `/.well-known/acme-challenge/` on the redirect port (certbot's webroot).
    public var acmeWebroot: String? = nil
    /// PEM CA bundle that a `rediss://` server's certificate must chain to; `nil`: the system's.
    public var redisCAPath: String? = nil
    /// Name a `rediss://` server's certificate must carry; `nil`: the URL's host.
    public var redisTLSServerName: String? = nil
    /// The password Sentinels ask for (their `requirepass`); `nil`: they ask for none.
    public var redisSentinelPassword: String? = nil

    public init() {}

    /// The Redis a worker talks to when none is configured.
    public var effectiveRedisURL: String { redisURL ?? "redis://127.0.0.1:6379" }

    /// Whether the listening port speaks TLS.
    public var servesTLS: Bool { tlsCertificatePath != nil }
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
