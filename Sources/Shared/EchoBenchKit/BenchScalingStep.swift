/// One rate step of S6 on one Redis layout: the reports of its generators, which measured the same
/// window (they start warming up together), added up.
public struct BenchScalingStep: Sendable, Equatable, Codable {
    /// Messages per second offered to the server, all generators together.
    public var offeredRate: Int
    public var connectionsRequested: Int
    public var reports: [BenchReport]

    public init(offeredRate: Int, connectionsRequested: Int, reports: [BenchReport]) {
        self.offeredRate = offeredRate
        self.connectionsRequested = connectionsRequested
        self.reports = reports
    }

    public var counts: BenchDeliveryCounts { reports.reduce(into: BenchDeliveryCounts()) { $0.add($1.counts) } }
    public var connectionsJoined: Int { reports.reduce(0) { $0 + $1.connectionsJoined } }
    public var messagesPerSecond: Double { reports.reduce(0) { $0 + $1.sentPerSecond } }
    public var deliveriesPerSecond: Double { reports.reduce(0) { $0 + $1.deliveriesPerSecond } }

    /// Messages Redis stored per second: those sent in the window less those refused.
    public var storedPerSecond: Double {
        reports.reduce(0) { total, report in
            guard report.counts.sent > 0 else { return total }
            let stored = Double(max(0, report.counts.sent - report.counts.errors)) / Double(report.counts.sent)
            return total + report.sentPerSecond * stored
        }
    }

    /// The largest of the generators' p50 and p99, in milliseconds. Each generator has at most 1 %
    /// of its deliveries above its own p99, so all deliveries together have at most 1 % above the
    /// largest: an upper bound of the p99 of the whole step (the same holds for p50).
    public var latencyP50Milliseconds: Double? { largest(\.p50) }
    public var latencyP99Milliseconds: Double? { largest(\.p99) }

    private func largest(_ percentile: KeyPath<BenchLatencySummary, Double>) -> Double? {
        reports.compactMap { $0.latency.flatMap { $0.count > 0 ? $0[keyPath: percentile] / 1000 : nil } }.max()
    }

    /// The CPU the first generator charged over its window; the others' windows are the same.
    var cpu: BenchCPUUsage? { reports.first { $0.cpu?.redisSeconds != nil }?.cpu }

    public var redisCores: Double? {
        guard let cpu, let seconds = cpu.redisSeconds, cpu.windowSeconds > 0 else { return nil }
        return seconds / cpu.windowSeconds
    }

    /// Cores each Redis process used: one entry for one Redis, one per primary for a cluster.
    public var shardCores: [Double]? {
        guard let cpu, let total = cpu.redisSeconds, cpu.windowSeconds > 0 else { return nil }
        return (cpu.redisShardSeconds ?? [total]).map { $0 / cpu.windowSeconds }
    }

    public var serverCores: Double? { cpu?.serverCores }

    /// All generators together (each charged itself over its own window).
    public var generatorCores: Double { reports.reduce(0) { $0 + ($1.cpu?.generatorCores ?? 0) } }

    /// Cores used by neither server, Redis nor any generator: the first generator counts the
    /// others as "other processes", so their share is taken out again.
    public var otherCores: Double? {
        guard let cpu, let other = cpu.otherCores else { return nil }
        return Swift.max(0, other - (generatorCores - cpu.generatorCores))
    }

    /// Redis CPU (user + system, all processes) per message stored, in microseconds.
    public var redisMicrosecondsPerMessage: Double? {
        guard let redisCores, storedPerSecond > 0 else { return nil }
        return redisCores / storedPerSecond * 1e6
    }

    /// How far the busiest and the idlest shard are from the mean of all shards, as fractions of
    /// the mean (+0.12 = 12 % above it): the larger of the two. Nil for one Redis or no CPU at all.
    public var shardDeviation: Double? {
        guard let cores = shardCores, cores.count > 1, let high = cores.max(), let low = cores.min() else { return nil }
        let mean = cores.reduce(0, +) / Double(cores.count)
        guard mean > 0 else { return nil }
        return Swift.max(high / mean - 1, 1 - low / mean)
    }

    /// Everyone joined, nothing lost, duplicated, reordered or refused, and p99 within `limit`.
    public func passes(p99LimitMilliseconds limit: Double) -> Bool {
        guard let p99 = latencyP99Milliseconds, reports.count > 0 else { return false }
        let counts = counts
        return connectionsJoined == connectionsRequested && counts.isClean && counts.errors == 0 && p99 <= limit
    }
}
