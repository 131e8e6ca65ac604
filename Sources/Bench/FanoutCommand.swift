import ArgumentParser
import EchoBenchKit
import Foundation
import Histogram
import Logging

/// `echo-bench fanout`: rooms of members that all listen and some send; measures deliveries per
/// second, delivery latency and loss.
struct FanoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Send stamped chat messages into rooms and measure every delivery.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Connections that send (the first N; default: all).")
    var senders: Int?

    @Option(help: "Total messages per second into the server (open loop). Without it: saturate.")
    var rate: Double?

    @Option(help: "Saturate: messages each sender keeps in flight (sent, not yet echoed back).")
    var window = 4

    @Option(help: "Chat text length in bytes (at least the ~40-byte stamp); with --encrypted, the ciphertext's length in base64url characters (rounded up to a multiple of 4).")
    var messageSize = 100

    @Option(help: "Seconds of measurement.")
    var duration = 10.0

    @Option(help: "Seconds of sending before measurement starts (not counted).")
    var warmup = 2.0

    @Option(help: "After sending stops: give up waiting once no delivery arrived for this many seconds.")
    var drainTimeout = 5.0

    @Option(help: "After sending stops: never wait longer than this many seconds in total.")
    var drainLimit = 60.0

    @Option(help: "Once joined, wait (up to --start-limit seconds) until this file exists before warming up: several generators then measure the same window.")
    var startFile: String?

    @Option(help: "Seconds to wait for --start-file.")
    var startLimit = 300.0

    @Flag(help: "Log the delivery latency (p50, p99, max) of every second of measurement on stderr: shows when a latency spike happens (docs/benchmarks.md, presence refresh).")
    var perSecond = false

    func validate() throws {
        try options.validateCommon()
        if let rate, !(rate > 0) { throw ValidationError("--rate must be positive") }
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        guard (1...2000).contains(messageSize) else { throw ValidationError("--message-size must be 1...2000 (Echo's limit)") }
        guard duration > 0, duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600]") }
        guard startLimit >= 0, startLimit <= 3600 else { throw ValidationError("--start-limit must be in [0, 3600]") }
        guard warmup >= 0, warmup <= 600, drainTimeout >= 0, drainTimeout <= 600, drainLimit >= 0, drainLimit <= 600 else {
            throw ValidationError("--warmup, --drain-timeout and --drain-limit must be in [0, 600]")
        }
    }

    func run() async throws {
        EchoBench.bootstrapLogging()
        let logger = Logger(label: "echo.bench")
        let connections = options.connections ?? 100
        let plan = BenchPlan(connections: connections, rooms: options.rooms ?? 1, senders: senders ?? connections)
        let pacing: BenchPacing = rate.map { .rate(messagesPerSecond: $0) } ?? .saturate(window: window)
        let send = BenchSendSettings(pacing: pacing, messageSize: messageSize)
        let run = BenchRun(settings: try options.settings(plan: plan, send: send), logger: logger)
        let progress = ProgressLine(enabled: !options.quiet)
        let sampler = options.sampler

        var report = BenchReport(mode: "fanout", targets: options.targets.map(\.description), parameters: parameters(plan: plan))
        report.connectionsRequested = plan.connections
        let connected = await run.connectAll { joined, failed in
            progress.show("[connect] joined \(Format.count(joined))/\(Format.count(plan.connections)) failed \(failed)")
        }
        report.connectionsJoined = connected.joined
        report.connectionsFailed = connected.failed
        report.errorsByCode = connected.errorsByCode
        logger.info("connected", metadata: ["joined": "\(connected.joined)", "failed": "\(connected.failed)", "seconds": "\(Format.fixed(connected.seconds, 2))"])
        guard connected.joined > 0 else {
            await run.finish()
            progress.finish()
            try EchoBench.emit(report, json: options.json)
            throw BenchFailure(description: "no connection joined")
        }

        if let startFile {
            logger.info("joined, waiting for the start file", metadata: ["path": "\(startFile)"])
            let limit = ContinuousClock.now + .milliseconds(Int(startLimit * 1000))
            while !FileManager.default.fileExists(atPath: startFile), ContinuousClock.now < limit {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        if perSecond { await run.trackIntervalLatency() }
        await run.enter(.warmUp)
        await tick(run, label: "warm-up", seconds: warmup, progress: progress)
        await run.enter(.measure)
        let cpuStart = sampler.sample()
        await tick(run, label: "measure", seconds: duration, progress: progress, logger: perSecond ? logger : nil)
        await run.enter(.drain)
        let cpuEnd = sampler.sample()

        // Wait until every expected delivery arrived. A server that is behind keeps delivering for
        // a while: wait as long as deliveries still come (up to `drainLimit`), and give up after
        // `drainTimeout` seconds without a single one. Only then is a missing delivery "lost".
        let drainStart = ContinuousClock.now
        var lastProgress = drainStart
        var lastDelivered = -1
        while ContinuousClock.now - drainStart < .seconds(drainLimit) {
            let counts = await run.gather(withHistogram: false, resetInterval: false).reduce(into: BenchDeliveryCounts()) { $0.add($1.counts) }
            if counts.delivered >= counts.expected { break }
            if counts.delivered != lastDelivered {
                lastDelivered = counts.delivered
                lastProgress = ContinuousClock.now
            } else if ContinuousClock.now - lastProgress > .milliseconds(Int(drainTimeout * 1000)) {
                break
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        report.drainSeconds = (ContinuousClock.now - drainStart).seconds
        let snapshots = await run.gather(withHistogram: true, resetInterval: false)
        await run.finish()
        progress.finish()

        report.addTLSHandshakes(of: snapshots, overTLS: options.targets.contains(where: \.tls))
        for snapshot in snapshots {
            report.counts.add(snapshot.counts)
            report.connectionsDropped += snapshot.dropped
            for (code, count) in snapshot.errorsByCode { report.errorsByCode[code, default: 0] += count }
        }
        let starts = snapshots.map(\.measureStart).filter { $0 > 0 }
        let ends = snapshots.map(\.measureEnd).filter { $0 > 0 }
        if let start = starts.min(), let end = ends.max(), end > start {
            report.measuredSeconds = Double(end - start) / 1e9
        }
        if report.measuredSeconds > 0 {
            report.sentPerSecond = Double(report.counts.sent) / report.measuredSeconds
            report.deliveriesPerSecond = Double(report.counts.delivered) / report.measuredSeconds
        }
        report.latency = Histogram<UInt64>.merged(snapshots.map(\.latency)).summary
        report.cpu = ProcessSampler.usage(from: cpuStart, to: cpuEnd)
        try EchoBench.emit(report, json: options.json)
        if !report.counts.isClean {
            logger.warning("deliveries were not clean", metadata: [
                "lost": "\(report.counts.lost)", "duplicated": "\(report.counts.duplicated)",
                "outOfOrder": "\(report.counts.outOfOrder)", "unexpected": "\(report.counts.unexpected)",
                "resyncs": "\(report.counts.resyncs)", "silentGaps": "\(report.counts.silentGaps)",
            ])
        }
    }

    private func parameters(plan: BenchPlan) -> [String: String] {
        var result = options.parameters()
        result["connections"] = String(plan.connections)
        result["rooms"] = String(plan.rooms)
        result["senders"] = String(plan.senders)
        result["pacing"] = rate.map { "rate \($0) msg/s" } ?? "saturate window \(window)"
        result["messageSize"] = String(messageSize)
        result["duration"] = String(duration)
        result["warmup"] = String(warmup)
        return result
    }

    /// Sleeps `seconds`, printing a progress line each second, and with `logger` that second's
    /// delivery latency.
    private func tick(_ run: BenchRun, label: String, seconds: Double, progress: ProgressLine, logger: Logger? = nil) async {
        let start = ContinuousClock.now
        let end = start + .milliseconds(Int(seconds * 1000))
        var last = start
        while ContinuousClock.now < end {
            let next = min(end, ContinuousClock.now + .seconds(1))
            try? await Task.sleep(until: next)
            let now = ContinuousClock.now
            let interval = (now - last).seconds
            last = now
            let snapshots = await run.gather(withHistogram: false, resetInterval: true)
            let sent = snapshots.reduce(0) { $0 + $1.intervalSent }
            let delivered = snapshots.reduce(0) { $0 + $1.intervalDelivered }
            let joined = snapshots.reduce(0) { $0 + $1.joined }
            let errors = snapshots.reduce(0) { $0 + $1.errorsByCode.values.reduce(0, +) }
            let elapsed = now - start
            if let logger {
                let latency = Histogram<UInt64>.merged(snapshots.map(\.intervalLatency)).summary
                logger.info("second", metadata: [
                    "s": "\(elapsed.components.seconds)", "deliveries": "\(delivered)", "p50ms": "\(Format.fixed(latency.p50 / 1000, 2))",
                    "p99ms": "\(Format.fixed(latency.p99 / 1000, 2))", "maxms": "\(Format.fixed(latency.max / 1000, 2))",
                ])
            }
            progress.show(
                "[\(label) \(elapsed.components.seconds)/\(Int(seconds))s] members \(Format.count(joined))"
                    + "  in \(Format.rate(Double(sent) / max(interval, 0.001)))/s"
                    + "  deliveries \(Format.rate(Double(delivered) / max(interval, 0.001)))/s  errors \(errors)")
        }
    }
}
