import ArgumentParser
import EchoBenchKit
import Logging

/// `echo-bench idle`: hold joined, silent connections and measure what they cost the server in
/// memory and CPU.
struct IdleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Hold joined, silent connections; sample the server's RSS and CPU (--server-pid).")

    @OptionGroup var options: BenchOptions

    @Option(help: "Seconds to hold every connection once all have joined.")
    var duration = 30.0

    @Option(help: "Seconds to wait after the last join before measuring (lets join traffic settle).")
    var settle = 2.0

    func validate() throws {
        try options.validateCommon()
        guard duration > 0, duration <= 3600, settle >= 0, settle <= 600 else {
            throw ValidationError("--duration must be in (0, 3600], --settle in [0, 600]")
        }
    }

    func run() async throws {
        EchoBench.bootstrapLogging()
        let logger = Logger(label: "echo.bench")
        let plan = BenchPlan(connections: options.connections ?? 1000, rooms: options.rooms ?? 100, senders: 0)
        let run = BenchRun(settings: try options.settings(plan: plan, send: BenchSendSettings(pacing: .saturate(window: 1), messageSize: 1)), logger: logger)
        let progress = ProgressLine(enabled: !options.quiet)
        let sampler = options.sampler
        var parameters = options.parameters()
        parameters["connections"] = String(plan.connections)
        parameters["rooms"] = String(plan.rooms)
        parameters["duration"] = String(duration)

        var report = BenchReport(mode: "idle", targets: options.targets.map(\.description), parameters: parameters)
        report.connectionsRequested = plan.connections
        let baseline = sampler.sample()
        let connected = await run.connectAll { joined, failed in
            progress.show("[connect] joined \(Format.count(joined))/\(Format.count(plan.connections)) failed \(failed)")
        }
        report.connectionsJoined = connected.joined
        report.connectionsFailed = connected.failed
        report.errorsByCode = connected.errorsByCode
        logger.info("connected", metadata: ["joined": "\(connected.joined)", "failed": "\(connected.failed)", "seconds": "\(Format.fixed(connected.seconds, 2))"])
        // `echo-bench suite` waits for this line on stderr to sample several generators at once.
        logger.info("holding", metadata: ["connections": "\(connected.joined)"])

        try? await Task.sleep(for: .milliseconds(Int(settle * 1000)))
        let start = sampler.sample()
        let holdStart = ContinuousClock.now
        let holdEnd = holdStart + .milliseconds(Int(duration * 1000))
        while ContinuousClock.now < holdEnd {
            try? await Task.sleep(until: min(holdEnd, ContinuousClock.now + .seconds(1)))
            let members = await run.gather(withHistogram: false, resetInterval: true).reduce(0) { $0 + $1.joined }
            let held = ContinuousClock.now - holdStart
            progress.show("[hold \(held.components.seconds)/\(Int(duration))s] members \(Format.count(members))")
        }
        let end = sampler.sample()
        let snapshots = await run.gather(withHistogram: false, resetInterval: false)
        await run.finish()
        progress.finish()

        report.measuredSeconds = Double(end.wallNanoseconds - start.wallNanoseconds) / 1e9
        report.connectionsDropped = snapshots.reduce(0) { $0 + $1.dropped }
        report.addTLSHandshakes(of: snapshots, overTLS: options.targets.contains(where: \.tls))
        for snapshot in snapshots {
            for (code, count) in snapshot.errorsByCode { report.errorsByCode[code, default: 0] += count }
        }
        report.cpu = ProcessSampler.usage(from: start, to: end)
        if let before = baseline.serverResidentBytes, let holding = end.serverResidentBytes {
            report.memory = BenchMemoryUsage(baselineBytes: before, holdingBytes: holding, connections: connected.joined)
        }
        try EchoBench.emit(report, json: options.json)
    }
}
