import EchoShared

/// The supervisor's own settings as given (flags, environment, defaults), before `echo serve`
/// resolves them against the host (cores, the binary's directory, `$HOME`). Workers never see them.
public struct SupervisorConfiguration: SettingsConfiguration, Equatable {
    public var workers: WorkerCount = .auto
    /// Longest graceful stop: past it, workers still draining are killed.
    public var drainTimeout: Duration = .seconds(10)
    /// Window over which a worker spreads its WebSocket closes; at most half the drain timeout.
    public var drainWindow: Duration = .seconds(2)
    public var heartbeatTimeout: Duration = .seconds(10)
    public var startTimeout: Duration = .seconds(30)
    /// `nil`: `echo-worker` next to `echo`.
    public var workerBinary: String? = nil
    public var redisServer = "redis-server"
    public var envFile: String? = nil
    /// `nil`: `/tmp/echo-UID-PORT`.
    public var runtimeDirectory: String? = nil
    /// `nil`: `$XDG_STATE_HOME/echo`, else `~/.local/state/echo`.
    public var stateDirectory: String? = nil
    /// How often a new TLS session-ticket key is made (the previous one still decrypts).
    public var ticketKeyRotation: Duration = TicketKeyRotation.defaultInterval

    public init() {}

    /// Every setting of the supervisor; all take effect on restart only (a reload rolls the
    /// workers, not the supervisor).
    public static let settings: [Setting<SupervisorConfiguration>] = [
        Setting(
            "ECHO_WORKERS", flag: .option("workers", value: "n|auto"), default: WorkerCount.auto.description,
            help: "Worker processes: a number, or `auto` for one per core. At run time SIGTTIN adds one, SIGTTOU removes one.",
            appliesOn: .restart,
            read: { configuration, text in
                guard !text.isEmpty else { return }
                guard let count = WorkerCount(text) else {
                    throw ConfigurationError(key: "ECHO_WORKERS", value: text, expected: "auto or a number in 1...\(WorkerCount.maximum)")
                }
                configuration.workers = count
            },
            write: { $0.workers.description }
        ),
        .seconds("ECHO_DRAIN_TIMEOUT", flag: "drain-timeout", \.drainTimeout, in: 0...3600, help: "Seconds a graceful stop waits for workers to drain before killing them.", appliesOn: .restart),
        .seconds("ECHO_DRAIN_WINDOW", flag: "drain-window", \.drainWindow, in: 0...3600, help: "Seconds over which a worker spreads its WebSocket closes (at most half the drain timeout).", appliesOn: .restart),
        .seconds("ECHO_HEARTBEAT_TIMEOUT", flag: "heartbeat-timeout", \.heartbeatTimeout, in: 2...3600, help: "Seconds without a heartbeat after which a worker counts as hung and is replaced.", appliesOn: .restart),
        .seconds("ECHO_START_TIMEOUT", flag: "start-timeout", \.startTimeout, in: 1...3600, help: "Seconds a new worker has to report ready.", appliesOn: .restart),
        .optionalText(
            "ECHO_WORKER_BINARY", flag: "worker-binary", value: "path", \.workerBinary, default: "(`echo-worker` next to `echo`)",
            help: "The worker binary; looked up again at each start, so a new binary is picked up on reload.", appliesOn: .restart
        ),
        .text("ECHO_REDIS_SERVER", flag: "redis-server", value: "path", \.redisServer, help: "redis-server to run when no `REDIS_URL` is set.", appliesOn: .restart),
        .optionalText(
            "ECHO_ENV_FILE", flag: "env-file", value: "path", \.envFile, default: "(none)",
            help: "Environment file read at start and again on every reload (a file named by the flag must exist).", appliesOn: .restart
        ),
        .optionalText(
            "RUNTIME_DIRECTORY", flag: "runtime-dir", value: "path", \.runtimeDirectory, default: "/tmp/echo-UID-PORT",
            help: "Directory for the state file and the embedded Redis socket (systemd sets it).", appliesOn: .restart
        ),
        .optionalText(
            "STATE_DIRECTORY", flag: "data-dir", value: "path", \.stateDirectory, default: "~/.local/state/echo",
            help: "Directory for the embedded Redis data (systemd sets it).", appliesOn: .restart
        ),
        .seconds(
            "ECHO_TLS_TICKET_ROTATION", flag: "tls-ticket-rotation", \.ticketKeyRotation, in: 1...604_800,
            help: "Seconds between new TLS session-ticket keys (kept in memory only; the previous key still resumes).", appliesOn: .restart
        ),
    ]

    /// Every setting `echo serve` reads, the workers' and its own, in the documentation's order.
    public static var allSettings: [any SettingDescription] {
        EchoConfiguration.settings + settings
    }

    /// Every setting of the documentation's table: ``allSettings``, then what `echo` hands each
    /// worker (``WorkerHandOff``).
    public static var documentedSettings: [any SettingDescription] {
        allSettings + WorkerHandOff.settings
    }
}
