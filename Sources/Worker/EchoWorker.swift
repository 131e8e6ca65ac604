import ArgumentParser
import EchoCore
import EchoShared
import Foundation
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle

/// `echo-worker`: serves chat over WebSocket. Started by `echo` (with an inherited socket and a
/// control channel) or alone, binding its own port.
@main
struct EchoWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-worker",
        abstract: "Serves Echo chat rooms over WebSocket, fanning out through Redis.",
        discussion: SettingsDocumentation.helpText(Self.settings)
    )

    /// `echo-worker migrate-keys ...` runs ``MigrateKeysCommand`` (what `echo migrate-keys` hands
    /// over to); anything else serves. Picked here, not as an argument-parser subcommand: the
    /// settings' flags take every unrecognized word (``EchoOptions``), a subcommand's name included.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == MigrateKeysCommand.configuration.commandName {
            await MigrateKeysCommand.main(Array(arguments.dropFirst()))
        } else {
            await main(arguments)
        }
    }

    /// The configuration and what `echo` hands each worker besides it.
    static var settings: [any SettingDescription] { EchoConfiguration.settings + WorkerHandOff.settings }

    /// Every setting's flag (``settings``); `--help` lists them.
    @OptionGroup var options: EchoOptions

    func validate() throws {
        _ = try options.flagValues(Self.settings)
    }

    /// Exit status for a configuration that can never work: the supervisor stops restarting.
    static let configurationErrorStatus: Int32 = 78

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: EchoConfiguration
        let handOff: WorkerHandOff
        let redisTLS: RedisTLS?
        do {
            configuration = try options.configuration(environment: environment)
            handOff = try WorkerHandOff(values: environment.merging(options.flagValues(Self.settings)) { _, flag in flag })
            // An unreadable ECHO_REDIS_CA can never work: a configuration error, not a retry.
            redisTLS = try RedisTLS.settings(for: RedisTopology(url: configuration.effectiveRedisURL).endpoints[0], configuration: configuration)
        } catch {
            FileHandle.standardError.write(Data("echo-worker: \(error)\n".utf8))
            throw ExitCode(Self.configurationErrorStatus)
        }
        LoggingSetup.bootstrap(configuration)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        var logger = Logger(label: "echo.worker")
        logger[metadataKey: "worker"] = "\(handOff.slot)"
        let settings = WorkerService.Settings(
            configuration: configuration,
            listenFD: handOff.listenFD,
            controlFD: handOff.controlFD,
            redirectFD: handOff.redirectFD,
            slot: handOff.slot,
            heartbeat: .milliseconds(Int64(handOff.heartbeatMilliseconds)),
            drainWindow: .milliseconds(Int64(handOff.drainWindowMilliseconds)),
            redisTLS: redisTLS
        )
        let service = WorkerService(settings: settings, registry: registry, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service)],
            gracefulShutdownSignals: [.sigterm],
            cancellationSignals: [.sigint],
            logger: logger
        ))
        do {
            try await group.run()
        } catch {
            logger.critical("worker failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
    }
}
