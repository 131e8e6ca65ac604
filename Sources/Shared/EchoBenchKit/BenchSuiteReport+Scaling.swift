/// S6 in BENCHMARKS.md: the targets of issue 12 and a table of rate steps per Redis layout.
extension BenchSuiteReport {
    /// The figures of the issue 12 targets, kept apart so tests can check the arithmetic.
    public struct ScalingTargets: Sendable, Equatable {
        /// The offered rate both layouts' first step ran at.
        public var baseRate: Int?
        /// The cluster's per-shard Redis cores at that rate, and the busiest or idlest shard's
        /// distance from their mean (0.12 = 12 %).
        public var clusterShardCores: [Double]?
        public var clusterShardDeviation: Double?
        /// Redis CPU microseconds per stored message at the base rate, and cluster over single.
        public var singleCost, clusterCost, costRatio: Double?
        public var single, cluster: BenchScalingRun?
    }

    public var scalingTargets: ScalingTargets {
        let single = scaling.first { $0.layout == .single }
        let cluster = scaling.first { $0.layout == .cluster }
        let singleBase = single?.base
        let clusterBase = cluster?.base
        // Costs compare only at the same offered rate.
        let sameRate = singleBase != nil && singleBase?.offeredRate == clusterBase?.offeredRate
        let singleCost = singleBase?.redisMicrosecondsPerMessage
        let clusterCost = clusterBase?.redisMicrosecondsPerMessage
        return ScalingTargets(
            baseRate: clusterBase?.offeredRate ?? singleBase?.offeredRate,
            clusterShardCores: clusterBase?.shardCores, clusterShardDeviation: clusterBase?.shardDeviation,
            singleCost: singleCost, clusterCost: clusterCost, costRatio: sameRate ? Self.ratio(clusterCost, singleCost) : nil,
            single: single, cluster: cluster)
    }

    func scalingTargetLines() -> [String] {
        guard let scenario = plan.scenarios.first(where: { if case .scaling = $0.load { true } else { false } }),
            case .scaling(let load) = scenario.load
        else { return [] }
        let t = scalingTargets
        let rate = t.baseRate.map { BenchFigure.fixed(Double($0), 0) } ?? "n/a"
        let limit = Int(load.p99LimitMilliseconds)
        let deviation = t.clusterShardDeviation.map { BenchFigure.fixed($0 * 100, 1) + " %" } ?? "n/a"
        let shards = t.clusterShardCores.map { $0.map { BenchFigure.fixed($0, 3) }.joined(separator: " / ") } ?? "n/a"
        let micro = { (value: Double?) in value.map { BenchFigure.fixed($0, 1) + " µs" } ?? "n/a" }
        var lines = [
            "",
            "## Redis Cluster targets (issue 12)",
            "",
            "| target | measured (S6, \(rate) msgs/s offered) | verdict |",
            "| --- | --- | --- |",
            "| cluster spreads Redis CPU within ±20 % across its \(load.shards) shards | \(shards) cores; busiest or idlest shard \(deviation) from the mean | \(Self.verdict(t.clusterShardDeviation, false, 0.2)) |",
            "| Redis CPU per message, cluster ≤ 1.3 × one Redis | \(micro(t.singleCost)) (one Redis) vs \(micro(t.clusterCost)) (cluster) = \(t.costRatio.map { Self.fixed($0, 2) } ?? "n/a") × | \(Self.verdict(t.costRatio, false, 1.3)) |",
            "| highest offered rate with p99 ≤ \(limit) ms | one Redis: \(ceiling(t.single)); cluster: \(ceiling(t.cluster)) | reported |",
        ]
        for run in [t.single, t.cluster].compactMap({ $0 }) where run.note != nil {
            lines += ["", "\(Self.layoutName(run)): \(run.note ?? "")"]
        }
        if t.cluster == nil || t.cluster?.steps.isEmpty == true {
            lines += ["", "**The cluster half of S6 was not run**, so its targets have no measurement."]
        }
        return lines
    }

    func scalingSectionLines(_ load: BenchSuiteScenario.ScalingLoad) -> [String] {
        guard !scaling.isEmpty else { return ["_No successful run._"] }
        let limit = Int(load.p99LimitMilliseconds)
        var lines: [String] = [
            "Each step runs \(load.generators) generators at once, each with \(load.connections / load.generators) connections in its own",
            "\(load.rooms / load.generators) rooms and half the rate; they start their \(load.warmup) s warm-up together and measure \(load.duration) s.",
            "Stepping stops at the first step with p99 > \(limit) ms (or any loss or refusal). p50 and p99 are the larger of",
            "the generators' own (an upper bound of the step's). Redis CPU is user + system time of each redis-server",
            "(`/proc/<pid>/stat`, 10 ms ticks) over the measurement window, per message = over messages stored",
            "(sent in the window, less refused). The cluster has \(load.shards) primaries and no replicas: S6 measures cost, not failover.",
            "Echo runs with its default `ECHO_PRESENCE_TTL`: the presence refresh (one script per room and worker every TTL / 3,",
            "spread over that period) is part of what the rows measure (docs/benchmarks.md, S6).",
        ]
        for run in scaling {
            lines += ["", "**\(Self.layoutName(run))**"]
            if !run.steps.isEmpty {
                lines += [
                    "",
                    "| offered msgs/s | messages in/s | deliveries/s | p50 | p99 | lost | send errors | joined | Redis cores (per process) | Redis µs per message | shard spread | server / generators / other cores | p99 ≤ \(limit) ms |",
                    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
                ]
                for step in run.steps { lines.append(row(step, run: run)) }
            }
            if let note = run.note { lines += ["", note] }
        }
        return lines
    }

    private func row(_ step: BenchScalingStep, run: BenchScalingRun) -> String {
        let fixed = { (value: Double?, decimals: Int, unit: String) in value.map { BenchFigure.fixed($0, decimals) + unit } ?? "n/a" }
        let counts = step.counts
        var cores = fixed(step.redisCores, 3, "")
        if let shards = step.shardCores, shards.count > 1 {
            cores += " (" + shards.map { BenchFigure.fixed($0, 3) }.joined(separator: " / ") + ")"
        }
        let cells = [
            BenchFigure.fixed(Double(step.offeredRate), 0), BenchFigure.fixed(step.messagesPerSecond, 0),
            BenchFigure.fixed(step.deliveriesPerSecond, 0), fixed(step.latencyP50Milliseconds, 2, " ms"),
            fixed(step.latencyP99Milliseconds, 2, " ms"), BenchFigure.fixed(Double(counts.lost), 0),
            BenchFigure.fixed(Double(counts.errors), 0), "\(BenchFigure.fixed(Double(step.connectionsJoined), 0))/\(BenchFigure.fixed(Double(step.connectionsRequested), 0))",
            cores, fixed(step.redisMicrosecondsPerMessage, 1, ""), step.shardDeviation.map { "±" + BenchFigure.fixed($0 * 100, 1) + " %" } ?? "–",
            "\(fixed(step.serverCores, 2, "")) / \(BenchFigure.fixed(step.generatorCores, 2)) / \(fixed(step.otherCores, 2, ""))",
            run.passes(step) ? "yes" : "**no**",
        ]
        return "| " + cells.joined(separator: " | ") + " |"
    }

    /// "6,000 msgs/s (8,000 missed)", "≥ 8,000 msgs/s (every step passed)", "below 2,000 msgs/s".
    private func ceiling(_ run: BenchScalingRun?) -> String {
        guard let run, let first = run.steps.first else { return "not run" }
        let rate = { (value: Int) in BenchFigure.fixed(Double(value), 0) + " msgs/s" }
        guard let highest = run.highestPassingRate else { return "below \(rate(first.offeredRate)) (the first step missed)" }
        guard run.stoppedAtFailure, let failed = run.steps.first(where: { !run.passes($0) }) else {
            return "≥ \(rate(highest)) (every step passed)"
        }
        return "\(rate(highest)) (\(BenchFigure.fixed(Double(failed.offeredRate), 0)) missed)"
    }

    static func layoutName(_ run: BenchScalingRun) -> String {
        switch run.layout {
        case .single: "One Redis"
        case .cluster: "Redis Cluster, \(run.shards) primaries (no replicas)"
        }
    }
}
