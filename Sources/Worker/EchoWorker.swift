import ArgumentParser
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
        discussion: SettingsDocumentation.helpText(EchoConfiguration.settings)
    )

    /// Every setting's flag (``EchoConfiguration/settings``); `--help` lists them.
    @OptionGroup var options: EchoOptions
    @Option(help: "Adopt this listening socket instead of binding (ECHO_LISTEN_FD).") var listenFD: Int32?
    @Option(help: "Supervisor control channel (ECHO_CONTROL_FD).") var controlFD: Int32?
    @Option(help: "Worker slot number, for logs and metrics (ECHO_WORKER_SLOT).") var slot: Int?

    func validate() throws {
        _ = try options.flagValues(EchoConfiguration.settings)
    }

    /// Exit status for a configuration that can never work: the supervisor stops restarting.
    static let configurationErrorStatus: Int32 = 78

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration: EchoConfiguration
        do {
            configuration = try options.configuration(environment: environment)
        } catch {
            FileHandle.standardError.write(Data("echo-worker: \(error)\n".utf8))
            throw ExitCode(Self.configurationErrorStatus)
        }
        LoggingSetup.bootstrap(configuration)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let slot = self.slot ?? environment["ECHO_WORKER_SLOT"].flatMap(Int.init) ?? 0
        var logger = Logger(label: "echo.worker")
        logger[metadataKey: "worker"] = "\(slot)"
        let heartbeatMs = environment["ECHO_HEARTBEAT_MS"].flatMap(Int64.init) ?? 1000
        let drainMs = environment["ECHO_DRAIN_WINDOW_MS"].flatMap(Int64.init) ?? 1000
        let settings = WorkerService.Settings(
            configuration: configuration,
            listenFD: listenFD ?? environment["ECHO_LISTEN_FD"].flatMap(Int32.init),
            controlFD: controlFD ?? environment["ECHO_CONTROL_FD"].flatMap(Int32.init),
            slot: slot,
            heartbeat: .milliseconds(max(heartbeatMs, 50)),
            drainWindow: .milliseconds(max(drainMs, 0))
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
