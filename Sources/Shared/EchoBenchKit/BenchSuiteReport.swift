import Foundation

/// BENCHMARKS.md: the machine, the setup, the verdict against each target of issue 5, and for
/// every scenario its command and the median, minimum, maximum and spread of every figure
/// (``BenchSummaryTable``, the same table `echo-bench summarize` prints).
public struct BenchSuiteReport: Sendable {
    public var plan: BenchSuitePlan
    public var machine: BenchMachine
    /// When the report was written, e.g. `2026-11-29 16:50 UTC`.
    public var generatedAt: String
    /// The successful runs of each scenario, by scenario id.
    public var results: [String: [BenchReport]]
    /// Where the raw JSON reports and logs of this suite are.
    public var workDirectory: String
    /// S6: one run per Redis layout it tried (one Redis, the cluster).
    public var scaling: [BenchScalingRun]
    /// E2E-browser: the page's crypto cost in Chromium, or why it was not measured; nil when not run.
    public var browserCrypto: BenchBrowserCryptoOutcome?

    public init(
        plan: BenchSuitePlan, machine: BenchMachine, generatedAt: String, results: [String: [BenchReport]], workDirectory: String,
        scaling: [BenchScalingRun] = [], browserCrypto: BenchBrowserCryptoOutcome? = nil
    ) {
        self.browserCrypto = browserCrypto
        self.plan = plan
        self.machine = machine
        self.generatedAt = generatedAt
        self.results = results
        self.workDirectory = workDirectory
        self.scaling = scaling
    }

    /// One figure over a scenario's runs; nil when no run has it.
    public func summary(_ scenario: String, _ figure: String) -> BenchSampleSummary? {
        guard let reports = results[scenario], !reports.isEmpty, let figure = BenchFigure.named(figure) else { return nil }
        return figure.summary(of: reports)
    }

    /// The median of one figure over a scenario's runs; nil when no run has it.
    public func median(_ scenario: String, _ figure: String) -> Double? {
        summary(scenario, figure)?.median
    }

    /// The derived figures of the targets table, kept apart so tests can check the arithmetic.
    public struct Targets: Sendable, Equatable {
        public var s1Rate, s1Lost, s2aP99, s2aLost, s2bP99, s2bLost: Double?
        /// S2 at 20k: the median run's `recovered:false` notices, and the most silent gaps any run
        /// saw (not the median: one bad run must show). Loss under overload is acceptable only
        /// when told; a silent gap never is.
        public var s2bResyncs, s2bSilentGapsMax: Double?
        public var s3BytesPerConnection, s3ServerCores, s4Rate, s4P99: Double?
        public var w1S1Rate, w1S2P99, s2In, w1S2In: Double?
        /// S1 with 2 workers over S1 with 1 worker (rounded to 2 decimals, as shown).
        public var s5Ratio: Double?
        public var s1PerCore, w1PerCore, s5PerCoreRatio: Double?
        /// Cores generator and Redis took in S1 (a missing figure counts as 0).
        public var s1Others: Double
        public var w1ServerCores: Double?
        /// What 2 workers can reach at the 1-worker efficiency per core: (cores − others) / w1 cores.
        public var s5Ceiling: Double?
        /// Issue 11: the TLS rows, and S1 over TLS as a share of plain S1.
        public var tlsS1Rate, tlsS1Lost, tlsS1Share, tlsS3BytesPerConnection, tlsS3ServerCores: Double?
        public var tlsS3CompactBytesPerConnection, tlsS1CompactRate, tlsS1CompactLost: Double?
        public var tlsS4FullRate, tlsS4FullP99, tlsS4ResumedRate, tlsS4ResumedP99, tlsS4Resumed, tlsS4ResumedOffered: Double?
    }

    public var targets: Targets {
        let s1Rate = median("S1", "deliveriesPerSecond")
        let w1S1Rate = median("S5-S1-w1", "deliveriesPerSecond")
        let s1Server = median("S1", "serverCores")
        let w1Server = median("S5-S1-w1", "serverCores")
        let s1PerCore = Self.ratio(s1Rate, s1Server)
        let w1PerCore = Self.ratio(w1S1Rate, w1Server)
        let others = Self.rounded((median("S1", "generatorCores") ?? 0) + (median("S1", "redisCores") ?? 0))
        var ceiling: Double?
        if let w1Server, w1Server > 0 { ceiling = Self.rounded((Double(machine.cores) - others) / w1Server) }
        return Targets(
            s1Rate: s1Rate, s1Lost: median("S1", "lost"),
            s2aP99: median("S2-10k", "latencyP99"), s2aLost: median("S2-10k", "lost"),
            s2bP99: median("S2-20k", "latencyP99"), s2bLost: median("S2-20k", "lost"),
            s2bResyncs: median("S2-20k", "resyncs"), s2bSilentGapsMax: summary("S2-20k", "silentGaps")?.maximum,
            s3BytesPerConnection: median("S3", "rssPerConnection"), s3ServerCores: median("S3", "serverCores"),
            s4Rate: median("S4", "joinsPerSecond"), s4P99: median("S4", "joinP99"),
            w1S1Rate: w1S1Rate, w1S2P99: median("S5-S2-w1", "latencyP99"),
            s2In: median("S2-10k", "sentPerSecond"), w1S2In: median("S5-S2-w1", "sentPerSecond"),
            s5Ratio: Self.ratio(s1Rate, w1S1Rate),
            s1PerCore: s1PerCore, w1PerCore: w1PerCore, s5PerCoreRatio: Self.ratio(s1PerCore, w1PerCore),
            s1Others: others, w1ServerCores: w1Server, s5Ceiling: ceiling,
            tlsS1Rate: median("S1-tls", "deliveriesPerSecond"), tlsS1Lost: median("S1-tls", "lost"),
            tlsS1Share: Self.ratio(median("S1-tls", "deliveriesPerSecond"), s1Rate),
            tlsS3BytesPerConnection: median("S3-tls", "rssPerConnection"), tlsS3ServerCores: median("S3-tls", "serverCores"),
            tlsS3CompactBytesPerConnection: median("S3-tls-compact", "rssPerConnection"),
            tlsS1CompactRate: median("S1-tls-compact", "deliveriesPerSecond"), tlsS1CompactLost: median("S1-tls-compact", "lost"),
            tlsS4FullRate: median("S4-tls", "joinsPerSecond"), tlsS4FullP99: median("S4-tls", "joinP99"),
            tlsS4ResumedRate: median("S4-tls-resumed", "joinsPerSecond"), tlsS4ResumedP99: median("S4-tls-resumed", "joinP99"),
            tlsS4Resumed: median("S4-tls-resumed", "tlsResumedHandshakes"),
            tlsS4ResumedOffered: median("S4-tls-resumed", "connectionsJoined"))
    }

    public func markdown() -> String {
        let t = targets
        let sizes = plan.sizes
        let fmt = Self.fixed
        let verdict = Self.verdict
        let ratio = { (value: Double?) in value.map { Self.fixed($0, 2) } ?? "n/a" }
        var lines: [String] = []
        lines.append("# Echo benchmarks")
        lines.append("")
        lines.append("Generated by `make bench` (`echo-bench suite`) on \(generatedAt); do not edit by hand.")
        if plan.quick {
            lines.append("")
            lines.append("> **Quick mode** (`BENCH_QUICK=1`): one run per scenario, \(sizes.duration) s windows, S3 with \(sizes.idleConnections)")
            lines.append("> connections, S4 with \(sizes.stormConnections) clients. For development only: not comparable with the targets.")
        }
        lines += [
            "",
            "How to run and how to read these numbers: [docs/benchmarks.md](docs/benchmarks.md).",
            "",
            "## Machine",
            "",
            "- CPU: \(machine.cpuModel), \(machine.cores) cores online",
            "- Memory: \(fmt(Double(machine.memoryBytes) / 1_073_741_824, 1)) GiB; kernel \(machine.kernel)",
            "- \(machine.swiftVersion); \(machine.redisVersion)",
            "- Open-file limit: \(machine.openFileLimit) per process",
            "- Load average (1, 5, 15 min) before the runs: \(machine.loadBefore); after: \(machine.loadAfter)",
            "- Server, Redis and generator share these cores. Nothing else is supposed to run during a",
            "  measurement: \"other processes CPU\" in each table shows how much did (from /proc/stat).",
            "",
            "## Setup",
            "",
            "- Release build: `swift build -c release --product echo --product echo-worker --product echo-bench`.",
            "- Redis: a private `redis-server --bind 127.0.0.1 --save '' --appendonly no` on a free port.",
            "- Server: `HOST=127.0.0.1 PORT=$PORT REDIS_URL=redis://127.0.0.1:$REDIS_PORT ECHO_RATE_LIMIT=0 echo --workers N`",
            "  (N = 2 unless the scenario says 1). The per-IP rate limit is lifted, as in any load test.",
            "- Generator: `echo-bench` with one event loop per core; every run uses fresh room names.",
            "- TLS rows: the same server with `ECHO_TLS_CERT`/`ECHO_TLS_KEY` set to a throwaway self-signed P-256",
            "  certificate the suite makes with `openssl`; the generator speaks `wss://` and verifies it (`--tls-ca`).",
            "- \(plan.runs) run(s) per scenario; tables show median, min, max and spread = (max − min) / median.",
            "- CPU figures are CPU seconds during the measurement window divided by its length (1.00 = one",
            "  core busy the whole time); \"server\" is the supervisor plus all its workers.",
            "",
            "## Targets (issue 5)",
            "",
            "| scenario | target | median measured | verdict |",
            "| --- | --- | --- | --- |",
            "| S1 fan-out | ≥ 400,000 deliveries/s, zero loss | \(fmt(t.s1Rate, 0)) deliveries/s, lost \(fmt(t.s1Lost, 0)) | \(verdict(t.s1Rate, true, 400_000)), loss \(verdict(t.s1Lost, false, 0)) |",
            "| S2 at 10k msgs/s | p99 ≤ 10 ms, zero loss | p99 \(fmt(t.s2aP99, 2)) ms, lost \(fmt(t.s2aLost, 0)) | \(verdict(t.s2aP99, false, 10)), loss \(verdict(t.s2aLost, false, 0)) |",
            "| S2 at 20k msgs/s | p99 ≤ 20 ms, zero loss | p99 \(fmt(t.s2bP99, 2)) ms, lost \(fmt(t.s2bLost, 0)) (told by \(fmt(t.s2bResyncs, 0)) recovered:false notices; silent gaps in the worst run: \(fmt(t.s2bSilentGapsMax, 0))) | \(verdict(t.s2bP99, false, 20)), loss \(verdict(t.s2bLost, false, 0)), silent gaps \(verdict(t.s2bSilentGapsMax, false, 0)) |",
            "| S3 idle | ≤ 4 KB RSS per connection, near-zero CPU | \(fmt(t.s3BytesPerConnection, 0)) B per connection, server \(fmt(t.s3ServerCores, 3)) cores | \(verdict(t.s3BytesPerConnection, false, 4096)) |",
            "| S4 join storm | ≥ 10,000 joins/s, p99 ≤ 50 ms | \(fmt(t.s4Rate, 0)) joins/s, p99 \(fmt(t.s4P99, 2)) ms | \(verdict(t.s4Rate, true, 10_000)), p99 \(verdict(t.s4P99, false, 50)) |",
            "| S5 scale (S1) | 2 workers ≥ 1.6 × 1 worker | \(fmt(t.s1Rate, 0)) / \(fmt(t.w1S1Rate, 0)) = \(ratio(t.s5Ratio)) × | \(verdict(t.s5Ratio, true, 1.6)) |",
            "| S5 per server core (S1) | context for the row above | \(fmt(t.s1PerCore, 0)) (2 workers) vs \(fmt(t.w1PerCore, 0)) (1 worker) deliveries/s per server core = \(ratio(t.s5PerCoreRatio)) × | expected at equal efficiency per core on \(machine.cores) shared cores: (\(machine.cores) − \(fmt(t.s1Others, 2)) generator + Redis) / \(fmt(t.w1ServerCores, 2)) = \(ratio(t.s5Ceiling)) × |",
            "| S5 scale (S2 10k) | 2 workers ≥ 1.6 × 1 worker | p99 \(fmt(t.s2aP99, 2)) ms (2 workers) vs \(fmt(t.w1S2P99, 2)) ms (1 worker) at \(fmt(t.s2In, 0))/\(fmt(t.w1S2In, 0)) msgs/s in | see note |",
            "",
            "S2 is an open-loop test at a fixed input rate: both worker counts carry the same load, so its",
            "S5 comparison is the latency at that load, not a throughput ratio. The throughput ratio is S1's.",
            "The S5 expectation is what 2 workers can reach here if each server core delivers as much as",
            "1 worker's did: the cores generator and Redis leave the server, over the cores 1 worker used.",
            "",
            "## TLS targets (issue 11)",
            "",
            "| scenario | target | median measured | verdict |",
            "| --- | --- | --- | --- |",
            "| S1 over TLS | ≥ 1,000,000 deliveries/s, zero loss | \(fmt(t.tlsS1Rate, 0)) deliveries/s (\(ratio(t.tlsS1Share)) × plain S1), lost \(fmt(t.tlsS1Lost, 0)) | \(verdict(t.tlsS1Rate, true, 1_000_000)), loss \(verdict(t.tlsS1Lost, false, 0)) |",
            "| S1 over TLS, `ECHO_TLS_RECORDS=compact` | ≥ 1,000,000 deliveries/s, zero loss | \(fmt(t.tlsS1CompactRate, 0)) deliveries/s, lost \(fmt(t.tlsS1CompactLost, 0)) | \(verdict(t.tlsS1CompactRate, true, 1_000_000)), loss \(verdict(t.tlsS1CompactLost, false, 0)) |",
            "| S3 idle over TLS | ≤ 12 KB RSS per connection | \(fmt(t.tlsS3BytesPerConnection, 0)) B per connection, server \(fmt(t.tlsS3ServerCores, 3)) cores | \(verdict(t.tlsS3BytesPerConnection, false, 12 * 1024)) |",
            "| S3 idle over TLS, `ECHO_TLS_RECORDS=compact` | ≤ 12 KB RSS per connection | \(fmt(t.tlsS3CompactBytesPerConnection, 0)) B per connection | \(verdict(t.tlsS3CompactBytesPerConnection, false, 12 * 1024)) |",
            "| S4 over TLS, full handshakes | report | \(fmt(t.tlsS4FullRate, 0)) handshakes + joins/s, p99 \(fmt(t.tlsS4FullP99, 2)) ms | reported |",
            "| S4 over TLS, resumed | report | \(fmt(t.tlsS4ResumedRate, 0)) handshakes + joins/s, p99 \(fmt(t.tlsS4ResumedP99, 2)) ms; \(fmt(t.tlsS4Resumed, 0)) of \(fmt(t.tlsS4ResumedOffered, 0)) resumed | reported |",
            "",
            "In the TLS scenarios every connection is a TLS connection (1.3, a P-256 certificate made for the",
            "suite); one S4 join is one handshake, so joins/s is handshakes/s.",
        ]
        lines += scalingTargetLines()
        lines += encryptionLines()
        for scenario in plan.scenarios {
            lines += ["", "## \(scenario.heading)", "", "`\(scenario.commandLine)`", ""]
            if case .scaling(let load) = scenario.load {
                lines += scalingSectionLines(load)
            } else if case .browserCrypto = scenario.load {
                lines.append(browserCrypto?.markdown ?? "_No successful run._")
            } else if let reports = results[scenario.id], !reports.isEmpty {
                lines.append(BenchSummaryTable.markdown(reports))
            } else {
                lines.append("_No successful run._")
            }
        }
        lines += ["", "Raw JSON reports and logs of this run: `\(workDirectory)` (temporary)."]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `a / b` rounded to 2 decimals as the report shows it, or nil without both or when b ≤ 0.
    static func ratio(_ a: Double?, _ b: Double?) -> Double? {
        guard let a, let b, b > 0 else { return nil }
        return rounded(a / b)
    }

    static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }

    /// Fixed-point text without grouping (the targets table), or `n/a`.
    static func fixed(_ value: Double?, _ decimals: Int) -> String {
        guard let value else { return "n/a" }
        return String(format: "%.*f", decimals, value)
    }

    /// `met`, `**not met**`, or `n/a` without a value; `atLeast` false means "at most".
    static func verdict(_ value: Double?, _ atLeast: Bool, _ target: Double) -> String {
        guard let value else { return "n/a" }
        return (atLeast ? value >= target : value <= target) ? "met" : "**not met**"
    }
}
