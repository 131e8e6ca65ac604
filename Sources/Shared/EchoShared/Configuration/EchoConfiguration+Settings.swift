import Foundation

extension EchoConfiguration {
    /// Every setting of a worker, in the order they are read (`ECHO_ENV` before `ECHO_LOG_FORMAT`,
    /// which overrides it). `echo` hands each one to its workers; `echo config-table` prints them
    /// for the README.
    public static let settings: [Setting<EchoConfiguration>] = [
        .text("HOST", flag: "host", value: "address", \.host, help: "Address to listen on.", appliesOn: .restart),
        .integer("PORT", flag: "port", value: "port", \.port, in: 0...65535, help: "Port to listen on.", appliesOn: .restart),
        .optionalText(
            "REDIS_URL", flag: "redis-url", value: "url", \.redisURL, default: "(embedded)",
            help: "`redis://[user:pass@]host:port[/db]`, `rediss://...` (TLS: `ECHO_REDIS_CA`), `unix:///path/redis.sock[?db=N]`, `redis+cluster://host:port,host:port/` (Redis Cluster seeds) or `redis+sentinel://host:port,host:port/<primary-name>` (`rediss+cluster://`, `rediss+sentinel://`: TLS); unset: `echo` runs its own redis-server, a lone `echo-worker` uses `redis://127.0.0.1:6379`.",
            validate: { _ = try RedisTopology(url: $0) }
        ),
        .integer("ECHO_RATE_LIMIT", flag: "rate-limit", \.rateLimitPerMinute, in: 0...1_000_000_000, help: "Chat messages per minute per client IP (0 = off)."),
        .integer("ECHO_RATE_BURST", flag: "rate-burst", \.rateLimitBurst, in: 1...1_000_000_000, help: "Chat messages a client IP may send at once after a quiet period (the rate limiter's bucket size)."),
        .integer("ECHO_HISTORY_LIMIT", flag: "history-limit", \.historyLimit, in: 1...10_000, help: "Messages sent on join."),
        .integer("ECHO_EDIT_WINDOW", flag: "edit-window", value: "seconds", \.editWindowSeconds, in: 0...31_536_000, help: "Seconds after writing a message during which its author may edit it (deleting has no limit)."),
        .integer("ECHO_STREAM_MAXLEN", flag: "stream-maxlen", \.streamMaxLength, in: 1...10_000_000, help: "Approximate cap of a room's history (`XADD MAXLEN ~`)."),
        .integer("ECHO_ROOM_TTL", flag: "room-ttl", value: "seconds", \.roomTTLSeconds, in: 10...31_536_000, help: "Seconds an empty, silent room lives before all its keys expire."),
        .integer("ECHO_PRESENCE_TTL", flag: "presence-ttl", value: "seconds", \.presenceTTLSeconds, in: 3...86_400, help: "Seconds a member lives without a refresh (a crashed worker's members disappear after it)."),
        .integer("ECHO_MAX_FRAME_BYTES", flag: "max-frame-bytes", value: "bytes", \.maxFrameBytes, in: 1024...(256 << 20), help: "Largest WebSocket message a client may send."),
        .integer("ECHO_MAX_IMAGE_BYTES", flag: "max-image-bytes", value: "bytes", \.maxImageBytes, in: 0...(256 << 20), help: "Largest image, in bytes after base64 decoding (told to clients in the `session` frame)."),
        .integer("ECHO_MAX_MESSAGE_LENGTH", flag: "max-message-length", value: "characters", \.maxMessageLength, in: 1...1_000_000, help: "Longest chat text (told to clients in the `session` frame)."),
        .integer("ECHO_OUTBOUND_LIMIT", flag: "outbound-limit", value: "bytes", \.outboundLimitBytes, in: (64 * 1024)...(1 << 30), help: "Bytes queued for one client before it is closed as a slow consumer (1008)."),
        .integer("ECHO_PING_INTERVAL", flag: "ping-interval", value: "seconds", \.pingIntervalSeconds, in: 1...3600, help: "Seconds between WebSocket pings."),
        .integer("ECHO_REDIS_TIMEOUT_MS", flag: "redis-timeout-ms", value: "ms", \.redisTimeoutMilliseconds, in: 10...600_000, help: "A Redis command unanswered this long drops the connection (it reconnects)."),
        .integer(
            "ECHO_REDIS_WAIT_REPLICAS", flag: "redis-wait-replicas", value: "replicas", \.redisWaitReplicas, in: 0...16,
            help: "Replicas that must confirm each chat (`WAIT`, for at most 25 ms) before its Redis connection runs anything else: a primary that dies holds at most one chat per connection that no replica has (0 = off). A chat fewer replicas confirmed in time stays stored and is counted (`echo_chat_unreplicated_total`), and chats then skip the WAIT for 2 s; see docs/operations.md."
        ),
        .list(
            "ECHO_TRUSTED_PROXIES", flag: "trusted-proxies", \.trustedProxies, default: "(none)",
            help: "Comma-separated addresses or CIDR ranges whose `X-Forwarded-For` is believed.",
            validate: { entry in
                guard IPAddressRange(entry) != nil else {
                    throw ConfigurationError(key: "ECHO_TRUSTED_PROXIES", value: entry, expected: "an IP address or CIDR range")
                }
            }
        ),
        .list(
            "ECHO_ALLOWED_ORIGINS", flag: "allowed-origins", \.allowedOrigins, default: "(own host)",
            help: "Comma-separated origins allowed to open a WebSocket besides the request's own host (`*`: any); others get 403."
        ),
        Setting(
            "ECHO_ENV", flag: .none, default: "(none)", help: "`production` means `ECHO_LOG_FORMAT=json` unless that is set.",
            read: { configuration, text in if text == "production" { configuration.logFormat = .json } },
            write: { _ in nil }
        ),
        Setting(
            "ECHO_LOG_FORMAT", flag: .option("log-format", value: "text|json"), default: LogFormat.text.rawValue,
            help: "`json` writes JSON lines (for journald).",
            read: { configuration, text in
                guard !text.isEmpty else { return }
                guard let format = LogFormat(rawValue: text) else {
                    throw ConfigurationError(key: "ECHO_LOG_FORMAT", value: text, expected: "text or json")
                }
                configuration.logFormat = format
            },
            write: { $0.logFormat.rawValue }
        ),
        Setting(
            "DEBUG", flag: .toggle("debug"), default: "(off)", help: "Any value but `0` or `false` logs at debug level.",
            read: { configuration, text in if !text.isEmpty, text != "0", text != "false" { configuration.debug = true } },
            // Written even when off, so that a DEBUG in the supervisor's own environment does not
            // reach a worker the configuration says should not debug.
            write: { $0.debug ? "1" : "" }
        ),
        .optionalText(
            "ECHO_WEB_ROOT", flag: "web-root", value: "path", \.webRoot, default: "(next to the binary)",
            help: "Folder of the web client; unset: looked for next to the binary and in the working directory."
        ),
        .integer("ECHO_BACKLOG", flag: "backlog", \.backlog, in: 1...65535, help: "Listen backlog of each worker's socket.", appliesOn: .restart),
        .integer("ECHO_HEADER_TIMEOUT", flag: "header-timeout", value: "seconds", \.headerTimeoutSeconds, in: 0...3600, help: "Seconds a connection may take to complete an HTTP request head (and may idle between keep-alive requests); 0 = off."),
        .integer("ECHO_JOIN_TIMEOUT", flag: "join-timeout", value: "seconds", \.joinTimeoutSeconds, in: 0...86_400, help: "Seconds a WebSocket may stay open without joining a room (closed 1008 after); 0 = off."),
        .integer("ECHO_MAX_CONNECTIONS_PER_IP", flag: "max-connections-per-ip", \.maxConnectionsPerIP, in: 0...10_000_000, help: "Open connections per client IP, all workers and hosts together (429 beyond); 0 = off."),
        .integer("ECHO_HANDSHAKES_PER_IP", flag: "handshakes-per-ip", \.handshakesPerIPPerSecond, in: 0...10_000_000, help: "WebSocket handshakes per client IP per second, all workers and hosts together (429 beyond); 0 = off."),
        .integer("ECHO_JOINS_PER_IP", flag: "joins-per-ip", \.joinsPerIPPerMinute, in: 0...10_000_000, help: "Join attempts per client IP per minute, all workers and hosts together (`RATE_LIMITED` beyond); 0 = off."),
        .integer("ECHO_INBOUND_BYTES_PER_SECOND", flag: "inbound-bytes-per-second", value: "bytes", \.inboundBytesPerSecond, in: 0...(1 << 40), help: "Bytes a connection may send per second (burst: one maximum frame); past it the server stops reading from it until the budget refills; 0 = off."),
        Setting(
            "ECHO_ADMIN_LISTEN", flag: .option("admin-listen", value: "host:port"), default: EchoConfiguration().adminListen,
            help: "Where `/metrics` and the detailed `/health` are served; `0` = nowhere (the public `/health` says only ok or not).",
            read: { configuration, text in
                let trimmed = text.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed == "0" {
                    configuration.adminListen = ""
                } else {
                    guard AdminAddress(trimmed) != nil else {
                        throw ConfigurationError(key: "ECHO_ADMIN_LISTEN", value: text, expected: "host:port (or 0 to turn it off)")
                    }
                    configuration.adminListen = trimmed
                }
            },
            write: { $0.adminListen.isEmpty ? "0" : $0.adminListen }
        ),
        .optionalText(
            "ECHO_TLS_CERT", flag: "tls-cert", value: "path", \.tlsCertificatePath, default: "(plain HTTP)",
            help: "PEM certificate chain, leaf first. With `ECHO_TLS_KEY`, the port serves only https and wss; a reload reads it again."
        ),
        .optionalText(
            "ECHO_TLS_KEY", flag: "tls-key", value: "path", \.tlsKeyPath, default: "(none)",
            help: "PEM private key of `ECHO_TLS_CERT` (under systemd: `%d/tls.key` from `LoadCredential=`)."
        ),
        .optionalText(
            "ECHO_TLS_CA", flag: "tls-ca", value: "path", \.tlsClientCAPath, default: "(off)",
            help: "PEM CA bundle; when set, every client must present a certificate it signed."
        ),
        .text(
            "ECHO_TLS_RECORDS", flag: "tls-records", value: "openssl|compact", \.tlsRecords,
            help: "`compact`: after a TLS 1.3 handshake, free OpenSSL's per-connection state and seal records with its ciphers directly (about 7 KB instead of 19 KB per idle connection; docs/operations.md, \"TLS\").",
            validate: { value in
                guard ["openssl", "compact"].contains(value) else {
                    throw ConfigurationError(key: "ECHO_TLS_RECORDS", value: value, expected: "openssl or compact")
                }
            }
        ),
        .optionalInteger(
            "ECHO_HTTP_REDIRECT_PORT", flag: "http-redirect-port", value: "port", \.httpRedirectPort, in: 1...65535,
            default: "(off)", help: "With TLS on: a plain HTTP port that answers with a 308 to https and serves ACME challenges.",
            appliesOn: .restart
        ),
        .optionalText(
            "ECHO_ACME_WEBROOT", flag: "acme-webroot", value: "path", \.acmeWebroot, default: "(off)",
            help: "Folder served at `/.well-known/acme-challenge/` on the redirect port (certbot `--webroot -w`)."
        ),
        .optionalText(
            "ECHO_REDIS_CA", flag: "redis-ca", value: "path", \.redisCAPath, default: "(system CAs)",
            help: "PEM CA bundle a `rediss://` server's certificate must chain to."
        ),
        .optionalText(
            "ECHO_REDIS_TLS_SERVER_NAME", flag: "redis-tls-server-name", value: "name", \.redisTLSServerName, default: "(the URL's host)",
            help: "Host name a `rediss://` server's certificate must carry."
        ),
        .optionalText(
            "ECHO_REDIS_SENTINEL_PASSWORD", flag: "redis-sentinel-password", value: "password", \.redisSentinelPassword, default: "(none)",
            help: "The Sentinels' own `requirepass` with `redis+sentinel://` (the URL's `user:pass@` logs in to the primary)."
        ),
    ]
}

extension EchoConfiguration {
    /// This configuration, read again for a reload, with every setting that applies only on restart
    /// (``SettingScope/restart``) kept as `running` has it; `ignored` names those that differed.
    public func keepingRestartSettings(of running: EchoConfiguration) -> (configuration: EchoConfiguration, ignored: [String]) {
        var next = self
        var ignored: [String] = []
        for setting in Self.settings where setting.appliesOn == .restart {
            let current = setting.value(of: running)
            guard setting.value(of: self) != current, let current else { continue }
            ignored.append(setting.name)
            // The running value was read from this same text, so it reads back.
            try? setting.apply(current, to: &next)
        }
        return (next, ignored)
    }
}
