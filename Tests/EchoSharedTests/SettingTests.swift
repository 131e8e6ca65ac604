import ArgumentParser
@testable import EchoShared
import Testing

@Suite("Settings table")
struct SettingTests {
    typealias Settings = [Setting<EchoConfiguration>]

    @Test func namesAndFlagsAreUnique() {
        let names = EchoConfiguration.settings.map(\.name)
        #expect(Set(names).count == names.count)
        let flags = EchoConfiguration.settings.compactMap(\.flag.longName)
        #expect(Set(flags).count == flags.count)
    }

    @Test func theDefaultsAreWhatAnEmptyEnvironmentReads() throws {
        #expect(try EchoConfiguration(values: [:]) == EchoConfiguration())
        #expect(try EchoConfiguration(values: EchoConfiguration().environment) == EchoConfiguration())
        // A documented default names the value the configuration really starts with.
        for setting in EchoConfiguration.settings {
            guard let value = setting.value(of: EchoConfiguration()), !value.isEmpty else { continue }
            #expect(setting.defaultText.hasPrefix(value) || setting.name == "REDIS_URL", "\(setting.name): \(setting.defaultText) vs \(value)")
        }
    }

    /// Every setting set away from its default survives the hand-off: what a worker is given reads
    /// back to the same configuration.
    @Test func handOffRoundTrips() throws {
        var configuration = EchoConfiguration()
        configuration.host = "127.0.0.2"
        configuration.port = 9001
        configuration.redisURL = "redis://:p%40ss@h:1/2"
        configuration.rateLimitPerMinute = 0
        configuration.rateLimitBurst = 3
        configuration.historyLimit = 7
        configuration.editWindowSeconds = 60
        configuration.streamMaxLength = 70
        configuration.roomTTLSeconds = 600
        configuration.presenceTTLSeconds = 9
        configuration.maxFrameBytes = 4096
        configuration.maxImageBytes = 0
        configuration.maxMessageLength = 5
        configuration.outboundLimitBytes = 1 << 20
        configuration.pingIntervalSeconds = 2
        configuration.redisTimeoutMilliseconds = 50
        configuration.redisWaitReplicas = 1
        configuration.trustedProxies = ["10.0.0.0/8", "::1"]
        configuration.allowedOrigins = ["https://a.example", "*"]
        configuration.logFormat = .json
        configuration.debug = true
        configuration.webRoot = "/srv/web"
        configuration.backlog = 16
        configuration.headerTimeoutSeconds = 0
        configuration.joinTimeoutSeconds = 0
        configuration.maxConnectionsPerIP = 0
        configuration.handshakesPerIPPerSecond = 0
        configuration.joinsPerIPPerMinute = 0
        configuration.inboundBytesPerSecond = 0
        configuration.adminListen = "[::1]:9191"
        configuration.tlsCertificatePath = "/etc/echo/chain.pem"
        configuration.tlsKeyPath = "/run/credentials/echo.service/tls.key"
        configuration.tlsClientCAPath = "/etc/echo/clients.pem"
        configuration.tlsRecords = "compact"
        configuration.httpRedirectPort = 80
        configuration.acmeWebroot = "/var/www/acme"
        configuration.redisCAPath = "/etc/echo/redis-ca.pem"
        configuration.redisTLSServerName = "redis.internal"
        configuration.redisSentinelPassword = "sentinel-secret"
        #expect(try EchoConfiguration(values: configuration.environment) == configuration)
        // Each field above differs from its default, so a setting missing from the table would fail.
        for setting in EchoConfiguration.settings where setting.name != "ECHO_ENV" {
            #expect(setting.value(of: configuration) != setting.value(of: EchoConfiguration()), "\(setting.name) was not exercised")
        }
        var off = EchoConfiguration()
        off.adminListen = ""
        #expect(try EchoConfiguration(values: off.environment) == off)
    }

    @Test(arguments: [
        ("PORT", "65536"), ("PORT", "-1"), ("ECHO_RATE_LIMIT", "-1"), ("ECHO_RATE_BURST", "0"),
        ("ECHO_HISTORY_LIMIT", "0"), ("ECHO_STREAM_MAXLEN", "0"), ("ECHO_ROOM_TTL", "9"),
        ("ECHO_PRESENCE_TTL", "2"), ("ECHO_MAX_FRAME_BYTES", "1023"), ("ECHO_MAX_IMAGE_BYTES", "268435457"),
        ("ECHO_MAX_MESSAGE_LENGTH", "0"), ("ECHO_REDIS_WAIT_REPLICAS", "17"), ("ECHO_OUTBOUND_LIMIT", "65535"), ("ECHO_PING_INTERVAL", "3601"),
        ("ECHO_REDIS_TIMEOUT_MS", "9"), ("ECHO_BACKLOG", "0"), ("ECHO_HEADER_TIMEOUT", "3601"),
        ("ECHO_JOIN_TIMEOUT", "-1"), ("ECHO_MAX_CONNECTIONS_PER_IP", "10000001"), ("ECHO_HANDSHAKES_PER_IP", "x"),
        ("ECHO_JOINS_PER_IP", "1.5"), ("ECHO_INBOUND_BYTES_PER_SECOND", "-5"), ("ECHO_ADMIN_LISTEN", "localhost"),
        ("ECHO_TRUSTED_PROXIES", "10.0.0.1,everyone"), ("REDIS_URL", "mysql://x"), ("ECHO_LOG_FORMAT", "xml"),
    ])
    func outOfRangeValuesAreRefusedNamingTheVariable(name: String, value: String) {
        do {
            _ = try EchoConfiguration(values: [name: value])
            Issue.record("\(name)=\(value) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == name)
            #expect(error.description.hasPrefix("\(name)="))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func rangesIncludeTheirBounds() throws {
        let configuration = try EchoConfiguration(values: ["PORT": "0", "ECHO_RATE_BURST": "1", "ECHO_OUTBOUND_LIMIT": "65536", "ECHO_HEADER_TIMEOUT": " 0 "])
        #expect(configuration.port == 0 && configuration.rateLimitBurst == 1 && configuration.outboundLimitBytes == 65536)
        #expect(configuration.headerTimeoutSeconds == 0)
    }

    /// Each flag reaches its own setting, in both spellings.
    @Test func everyFlagSetsItsVariable() throws {
        for setting in EchoConfiguration.settings {
            guard let flag = setting.flag.longName else { continue }
            let arguments: [[String]]
            if case .toggle = setting.flag {
                arguments = [["--\(flag)"]]
            } else {
                arguments = [["--\(flag)", "v"], ["--\(flag)=v"]]
            }
            for argv in arguments {
                let values = try EchoOptions.parse(argv).flagValues(EchoConfiguration.settings)
                #expect(values == [setting.name: argv.count == 1 && !argv[0].contains("=") ? "1" : "v"], "\(argv)")
            }
        }
    }

    /// The flags `echo-worker` and `echo` had before the table, which scripts and tests use.
    @Test func theFlagsOfOldStillExist() {
        let flags = Set(EchoConfiguration.settings.compactMap(\.flag.longName))
        for old in ["host", "port", "redis-url", "rate-limit", "rate-burst", "history-limit", "stream-maxlen", "room-ttl",
                    "presence-ttl", "max-frame-bytes", "outbound-limit", "ping-interval", "trusted-proxies",
                    "allowed-origins", "log-format", "web-root", "debug"] {
            #expect(flags.contains(old), "--\(old)")
        }
    }

    @Test func unknownFlagsAndStrayWordsAreRefused() throws {
        #expect(throws: ValidationError.self) { try EchoOptions.parse(["--nope", "1"]).flagValues(EchoConfiguration.settings) }
        #expect(throws: ValidationError.self) { try EchoOptions.parse(["--port"]).flagValues(EchoConfiguration.settings) }
        #expect(throws: ValidationError.self) { try EchoOptions.parse(["--debug=1"]).flagValues(EchoConfiguration.settings) }
        // On reload the supervisor's own flags, already checked, are skipped with their values.
        let options = try EchoOptions.parse(["--workers", "2", "--port", "9", "--drain-timeout=3"])
        #expect(try options.merged(over: ["PORT": "1", "ECHO_RATE_LIMIT": "5"]) == ["PORT": "9", "ECHO_RATE_LIMIT": "5"])
    }

    @Test func theWorkerHandOffReadsFlagsAndEnvironmentAndRefusesBadDescriptors() throws {
        #expect(try WorkerHandOff(values: [:]) == WorkerHandOff())
        var handOff = WorkerHandOff()
        handOff.listenFD = 3
        handOff.controlFD = 4
        handOff.slot = 2
        handOff.heartbeatMilliseconds = 250
        handOff.drainWindowMilliseconds = 0
        #expect(try WorkerHandOff(values: handOff.environment) == handOff)
        let flags = try EchoOptions.parse(["--listen-fd", "5", "--slot=1"]).flagValues(EchoConfiguration.settings + WorkerHandOff.settings)
        #expect(flags == ["ECHO_LISTEN_FD": "5", "ECHO_WORKER_SLOT": "1"])
        #expect(throws: ConfigurationError.self) { try WorkerHandOff(values: ["ECHO_LISTEN_FD": "three"]) }
        #expect(throws: ConfigurationError.self) { try WorkerHandOff(values: ["ECHO_HEARTBEAT_MS": "10"]) }
    }

    @Test func aReloadKeepsTheSettingsThatApplyOnRestart() throws {
        let running = try EchoConfiguration(values: ["PORT": "9000", "ECHO_BACKLOG": "100"])
        let read = try EchoConfiguration(values: ["PORT": "9001", "HOST": "::", "ECHO_BACKLOG": "100", "ECHO_RATE_LIMIT": "7"])
        let (next, ignored) = read.keepingRestartSettings(of: running)
        #expect(ignored == ["HOST", "PORT"])
        #expect(next.port == 9000 && next.host == running.host && next.backlog == 100)
        #expect(next.rateLimitPerMinute == 7)
    }

    @Test func theMarkdownTableHasOneRowPerSettingAndEscapesPipes() {
        let table = SettingsDocumentation.markdownTable(EchoConfiguration.settings)
        let rows = table.split(separator: "\n").dropFirst(2)
        #expect(rows.count == EchoConfiguration.settings.count)
        #expect(table.contains("`--log-format <text\\|json>`"))
        for row in rows { #expect(row.split(separator: "|", omittingEmptySubsequences: false).count >= 7) }
        let document = "a\n\(SettingsDocumentation.beginMarker)\nold\n\(SettingsDocumentation.endMarker)\nb"
        #expect(SettingsDocumentation.replacingTable(in: document, with: "T\n") == "a\n\(SettingsDocumentation.beginMarker)\nT\n\(SettingsDocumentation.endMarker)\nb")
        #expect(SettingsDocumentation.replacingTable(in: "no markers", with: "T\n") == nil)
    }
}
