import ArgumentParser
import EchoShared
import EchoSupervision
import Glibc
import Logging

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the supervisor (the default): one listening socket per worker, workers restarted, drained and reloaded.",
        discussion: SettingsDocumentation.helpText(SupervisorConfiguration.allSettings)
    )

    /// Every setting's flag (``SupervisorConfiguration/allSettings``); `--help` lists them.
    @OptionGroup var options: EchoOptions

    func validate() throws {
        _ = try options.flagValues(SupervisorConfiguration.allSettings)
    }

    func run() throws {
        var environment = ProcessEnvironment.current
        let flags: [String: String]
        do {
            flags = try options.flagValues(SupervisorConfiguration.allSettings)
        } catch {
            Self.fail("\(error)", code: 64)
        }
        // A file named by the flag must exist; one named by ECHO_ENV_FILE (set by echo.service,
        // like its EnvironmentFile=-) is optional.
        let envFileFlag = flags["ECHO_ENV_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let envFile = envFileFlag ?? environment["ECHO_ENV_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        if let envFile, envFileFlag != nil || access(envFile, F_OK) == 0 {
            do {
                environment.merge(try EnvironmentFile.read(path: envFile)) { _, file in file }
            } catch {
                Self.fail("cannot read the environment file \(envFile): \(error)", code: 78)
            }
        }
        var configuration: EchoConfiguration
        do {
            configuration = try options.configuration(environment: environment)
        } catch {
            Self.fail("invalid configuration: \(error)", code: 78)
        }
        LoggingSetup.bootstrap(configuration)
        let logger = Logger(label: "echo.supervisor")
        do {
            // Before any worker starts: a certificate the workers could not load would make every
            // one of them fail, and systemd retry in vain.
            configuration = try Supervisor.checkTLS(
                configuration, credentialsDirectory: environment["CREDENTIALS_DIRECTORY"], logger: logger, context: "start")
        } catch {
            logger.critical("TLS: \(error)")
            Self.fail("TLS: \(error)", code: 78)
        }

        let settings: SupervisorSettings
        do {
            let given = try SupervisorConfiguration(values: environment.merging(flags) { _, flag in flag })
            settings = try resolveSettings(given, environment: environment, configuration: configuration, envFile: envFile)
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

    /// The supervisor's settings resolved against this host: cores, the binary's directory, `$HOME`.
    private func resolveSettings(
        _ given: SupervisorConfiguration, environment: [String: String], configuration: EchoConfiguration, envFile: String?
    ) throws -> SupervisorSettings {
        let workerBinary = given.workerBinary ?? Self.siblingBinary("echo-worker")
        guard access(workerBinary, X_OK) == 0 else {
            throw StartupError(message: "the worker binary \(workerBinary) is missing or not executable (build it with swift build, or set --worker-binary)")
        }
        // systemd may list several directories, colon-separated: the first is Echo's.
        let runtime = given.runtimeDirectory.map { String($0.split(separator: ":").first ?? "") }
            ?? "/tmp/echo-\(getuid())-\(configuration.port)"
        let home = environment["HOME"] ?? "/tmp"
        let state = given.stateDirectory.map { String($0.split(separator: ":").first ?? "") }
            ?? (environment["XDG_STATE_HOME"].map { $0 + "/echo" } ?? home + "/.local/state/echo")

        return SupervisorSettings(
            workers: given.workers.resolved(cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))),
            drainTimeout: given.drainTimeout,
            drainWindow: min(given.drainWindow, given.drainTimeout / 2),
            heartbeatTimeout: given.heartbeatTimeout,
            startTimeout: given.startTimeout,
            workerBinary: workerBinary,
            redisServer: given.redisServer,
            envFile: envFile,
            runtimeDirectory: runtime,
            stateDirectory: state,
            ticketKeyRotation: given.ticketKeyRotation
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
