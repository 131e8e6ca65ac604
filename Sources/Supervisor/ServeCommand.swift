import ArgumentParser
import EchoShared
import EchoSupervision
import Glibc
import Logging

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the supervisor (the default): one listening socket per worker, workers restarted, drained and reloaded."
    )

    @OptionGroup var options: EchoOptions

    @Option(help: "Worker processes: a number or auto, one per core (ECHO_WORKERS, default auto).")
    var workers: String?

    @Option(help: "Seconds a graceful stop waits for workers to drain before killing them (ECHO_DRAIN_TIMEOUT, default 10).")
    var drainTimeout: Double?

    @Option(help: "Seconds over which a worker spreads its WebSocket closes (ECHO_DRAIN_WINDOW, default 2, at most half the drain timeout).")
    var drainWindow: Double?

    @Option(help: "Seconds without a heartbeat after which a worker counts as hung and is replaced (ECHO_HEARTBEAT_TIMEOUT, default 10).")
    var heartbeatTimeout: Double?

    @Option(help: "Seconds a new worker has to report ready (ECHO_START_TIMEOUT, default 30).")
    var startTimeout: Double?

    @Option(help: "The worker binary (ECHO_WORKER_BINARY, default: echo-worker next to echo). Looked up again at each start, so a new binary is picked up on reload.")
    var workerBinary: String?

    @Option(help: "redis-server to run when no REDIS_URL is set (ECHO_REDIS_SERVER, default redis-server).")
    var redisServer: String?

    @Option(help: "Environment file read at start and again on every reload (ECHO_ENV_FILE).")
    var envFile: String?

    @Option(help: "Directory for the state file and the embedded Redis socket (RUNTIME_DIRECTORY, default /tmp/echo-UID-PORT).")
    var runtimeDir: String?

    @Option(help: "Directory for the embedded Redis data (STATE_DIRECTORY, default ~/.local/state/echo).")
    var dataDir: String?

    func run() throws {
        var environment = ProcessEnvironment.current
        // A file named by the flag must exist; one named by ECHO_ENV_FILE (set by echo.service,
        // like its EnvironmentFile=-) is optional.
        let envFile = self.envFile ?? environment["ECHO_ENV_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let envFile, self.envFile != nil || access(envFile, F_OK) == 0 {
            do {
                environment.merge(try EnvironmentFile.read(path: envFile)) { _, file in file }
            } catch {
                Self.fail("cannot read the environment file \(envFile): \(error)", code: 78)
            }
        }
        let configuration: EchoConfiguration
        do {
            configuration = try options.configuration(environment: environment)
        } catch {
            Self.fail("invalid configuration: \(error)", code: 78)
        }
        LoggingSetup.bootstrap(configuration)
        let logger = Logger(label: "echo.supervisor")

        let settings: SupervisorSettings
        do {
            settings = try resolveSettings(environment: environment, configuration: configuration, envFile: envFile)
        } catch {
            logger.critical("\(error)")
            Self.fail("\(error)", code: 78)
        }
        do {
            try Filesystem.makeDirectory(settings.runtimeDirectory)
            let supervisor = try Supervisor(
                settings: settings, configuration: configuration, options: options, environment: environment,
                logger: logger
            )
            logger.info(
                "echo starting",
                metadata: ["pid": "\(getpid())", "workers": "\(settings.workers)", "worker_binary": "\(settings.workerBinary)"]
            )
            let code = try supervisor.run()
            if code != 0 { throw ExitCode(code) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logger.critical("cannot start: \(error)")
            Systemd.notify("STATUS=Failed: \(error)")
            Self.fail("\(error)", code: 1)
        }
    }

    private func resolveSettings(environment: [String: String], configuration: EchoConfiguration, envFile: String?) throws -> SupervisorSettings {
        let source = ConfigurationSource(environment: environment, flags: [
            "ECHO_WORKERS": workers, "ECHO_DRAIN_TIMEOUT": drainTimeout, "ECHO_DRAIN_WINDOW": drainWindow,
            "ECHO_HEARTBEAT_TIMEOUT": heartbeatTimeout, "ECHO_START_TIMEOUT": startTimeout,
            "ECHO_WORKER_BINARY": workerBinary, "ECHO_REDIS_SERVER": redisServer,
            "RUNTIME_DIRECTORY": runtimeDir, "STATE_DIRECTORY": dataDir,
        ])
        func value(_ key: String) -> String? { source.string(key) }

        let countText = value("ECHO_WORKERS") ?? "auto"
        guard let count = WorkerCount(countText) else {
            throw ConfigurationError(key: "ECHO_WORKERS", value: countText, expected: "auto or a number in 1...\(WorkerCount.maximum)")
        }
        let drainTimeout = try source.seconds("ECHO_DRAIN_TIMEOUT", in: 0...3600) ?? .seconds(10)
        var drainWindow = try source.seconds("ECHO_DRAIN_WINDOW", in: 0...3600) ?? .seconds(2)
        drainWindow = min(drainWindow, drainTimeout / 2)

        let workerBinary = value("ECHO_WORKER_BINARY") ?? Self.siblingBinary("echo-worker")
        guard access(workerBinary, X_OK) == 0 else {
            throw StartupError(message: "the worker binary \(workerBinary) is missing or not executable (build it with swift build, or set --worker-binary)")
        }
        let runtime = value("RUNTIME_DIRECTORY").map { String($0.split(separator: ":").first ?? "") }
            ?? "/tmp/echo-\(getuid())-\(configuration.port)"
        let home = environment["HOME"] ?? "/tmp"
        let state = value("STATE_DIRECTORY").map { String($0.split(separator: ":").first ?? "") }
            ?? (environment["XDG_STATE_HOME"].map { $0 + "/echo" } ?? home + "/.local/state/echo")

        return SupervisorSettings(
            workers: count.resolved(cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))),
            drainTimeout: drainTimeout,
            drainWindow: drainWindow,
            heartbeatTimeout: try source.seconds("ECHO_HEARTBEAT_TIMEOUT", in: 2...3600) ?? .seconds(10),
            startTimeout: try source.seconds("ECHO_START_TIMEOUT", in: 1...3600) ?? .seconds(30),
            workerBinary: workerBinary,
            redisServer: value("ECHO_REDIS_SERVER") ?? "redis-server",
            envFile: envFile,
            runtimeDirectory: runtime,
            stateDirectory: state
        )
    }

    /// `name` in the directory of the running `echo` binary.
    static func siblingBinary(_ name: String) -> String {
        ExecutablePath.directory.map { $0 + "/" + name } ?? name
    }

    /// Prints `message` for the operator and exits: configuration errors use 78 (EX_CONFIG), which
    /// echo.service lists in RestartPreventExitStatus= so systemd does not retry a hopeless start.
    static func fail(_ message: String, code: Int32) -> Never {
        FileHandleOutput.standardError("echo: \(message)\n")
        Glibc.exit(code)
    }
}

enum FileHandleOutput {
    static func standardError(_ text: String) {
        let bytes = Array(text.utf8)
        _ = write(2, bytes, bytes.count)
    }
}
