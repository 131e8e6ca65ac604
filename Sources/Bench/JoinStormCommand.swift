import ArgumentParser
import EchoBenchKit
import Logging

/// `echo-bench joinstorm`: clients connect, upgrade, join and receive their history as fast as a
/// fixed number of concurrent attempts allows; measures joins per second and join latency.
struct JoinStormCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "joinstorm",
        abstract: "Connect + join + history as fast as possible; joins/s and join latency.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Joins in flight at once (overrides --connect-concurrency).")
    var concurrency = 100

    func validate() throws {
        try options.validateCommon()
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        EchoBench.bootstrapLogging()
        let logger = Logger(label: "echo.bench")
        let plan = BenchPlan(connections: options.connections ?? 5000, rooms: options.rooms ?? 500, senders: 0)
        let settings = try options.settings(plan: plan, send: BenchSendSettings(pacing: .saturate(window: 1), messageSize: 1), connectConcurrency: concurrency)
        let run = BenchRun(settings: settings, logger: logger)
        let progress = ProgressLine(enabled: !options.quiet)
        let sampler = options.sampler
        var parameters = options.parameters()
        parameters["connections"] = String(plan.connections)
        parameters["rooms"] = String(plan.rooms)
        parameters["concurrency"] = String(concurrency)

        var report = BenchReport(mode: "joinstorm", targets: options.targets.map(\.description), parameters: parameters)
        report.connectionsRequested = plan.connections
        let start = sampler.sample()
        let connected = await run.connectAll { joined, failed in
            progress.show("[joinstorm] joined \(Format.count(joined))/\(Format.count(plan.connections)) failed \(failed)")
        }
        let end = sampler.sample()
        let snapshots = await run.gather(withHistogram: false, resetInterval: false)
        await run.finish()
        progress.finish()

        report.connectionsJoined = connected.joined
        report.connectionsFailed = connected.failed
        report.errorsByCode = connected.errorsByCode
        report.connectionsDropped = snapshots.reduce(0) { $0 + $1.dropped }
        report.addTLSHandshakes(of: snapshots, overTLS: options.targets.contains(where: \.tls))
        for snapshot in snapshots {
            for (code, count) in snapshot.errorsByCode { report.errorsByCode[code, default: 0] += count }
        }
        report.measuredSeconds = connected.seconds
        report.joinsPerSecond = connected.seconds > 0 ? Double(connected.joined) / connected.seconds : 0
        report.latency = connected.joinLatency.summary
        report.cpu = ProcessSampler.usage(from: start, to: end)
        logger.info("joinstorm done", metadata: ["joined": "\(connected.joined)", "failed": "\(connected.failed)"])
        try EchoBench.emit(report, json: options.json)
    }
}
