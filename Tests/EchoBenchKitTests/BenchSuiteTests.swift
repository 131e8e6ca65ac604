@testable import EchoBenchKit
import Testing

@Suite("echo-bench suite: plan and report")
struct BenchSuiteTests {
    // MARK: plan

    @Test func fullPlanRunsTheStandardScenariosThreeTimes() throws {
        let plan = BenchSuitePlan(quick: false)
        #expect(plan.runs == 3)
        #expect(plan.scenarios.map(\.id) == ["S1", "S1-e2e", "E2E-browser", "S2-10k", "S2-20k", "S3", "S4", "S5-S1-w1", "S5-S2-w1", "S1-tls", "S1-tls-compact", "S3-tls", "S3-tls-compact", "S4-tls", "S4-tls-resumed", "S6"])
        let s1 = try #require(plan.scenario("S1"))
        #expect(s1.workers == 2)
        #expect(s1.commandLine == "echo-bench fanout --connections 100 --rooms 1 --window 4 --message-size 100 --duration 10 --warmup 2 --url ws://127.0.0.1:$PORT/ws --server-pid $ECHO_PID --redis-pid $REDIS_PID")
        #expect(plan.scenario("S2-20k")?.load == .generator(["fanout", "--connections", "2000", "--rooms", "200", "--rate", "20000", "--message-size", "100", "--duration", "10", "--warmup", "2"]))
        #expect(plan.scenario("S4")?.load == .generator(["joinstorm", "--connections", "5000", "--rooms", "500", "--concurrency", "100"]))
        // S5 repeats S1 and S2 at 10k with one worker, with the same arguments.
        #expect(plan.scenario("S5-S1-w1")?.load == s1.load)
        #expect(plan.scenario("S5-S1-w1")?.workers == 1)
        #expect(plan.scenario("S5-S2-w1")?.load == plan.scenario("S2-10k")?.load)
    }

    @Test func everyScenarioRunsInExactlyOneStageWithItsWorkerCount() {
        let plan = BenchSuitePlan(quick: false)
        let staged = plan.stages.flatMap(\.scenarioIDs)
        #expect(staged.sorted() == plan.scenarios.map(\.id).sorted())
        for stage in plan.stages {
            for id in stage.scenarioIDs { #expect(plan.scenario(id)?.workers == stage.workers) }
        }
        #expect(plan.stages.filter(\.freshServerPerRun).flatMap(\.scenarioIDs) == ["S3", "S3-tls", "S3-tls-compact"])
        #expect(plan.stages.first { $0.scenarioIDs == ["S3-tls-compact"] }?.settings == ["ECHO_TLS_RECORDS": "compact"])
        // The TLS rows run only against a TLS server, and the plain ones only against a plain one.
        for stage in plan.stages {
            for id in stage.scenarioIDs { #expect(plan.scenario(id)?.tls == stage.tls) }
        }
    }

    @Test func onlyKeepsTheChosenScenariosInTheirStages() {
        let plan = BenchSuitePlan(quick: true, only: ["S4", "S5-S2-w1"])
        #expect(plan.stages == [
            BenchSuitePlan.Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S4"]),
            BenchSuitePlan.Stage(workers: 1, freshServerPerRun: false, scenarioIDs: ["S5-S2-w1"]),
        ])
        #expect(plan.scenarios.count == 16)
        #expect(BenchSuitePlan(quick: true, only: ["S3"]).stages.map(\.freshServerPerRun) == [true])
    }

    @Test func idleLoadIsSplitOverItsGenerators() throws {
        let plan = BenchSuitePlan(quick: false)
        guard case .idle(let idle) = try #require(plan.scenario("S3")).load else {
            Issue.record("S3 is not an idle load")
            return
        }
        #expect(idle.generators == 2)
        #expect(idle.arguments(url: "ws://127.0.0.1:9/ws") == [
            "idle", "--connections", "10000", "--rooms", "1000", "--duration", "45", "--settle", "0",
            "--connect-concurrency", "128", "--url", "ws://127.0.0.1:9/ws", "--json",
        ])
        #expect(plan.scenario("S3")?.commandLine.hasPrefix("2 × echo-bench idle --connections 10000 ") == true)
    }

    @Test func tlsRowsRunTheSameLoadsOverWSS() throws {
        let plan = BenchSuitePlan(quick: false)
        let s1 = try #require(plan.scenario("S1-tls"))
        #expect(s1.tls && s1.workers == 2 && s1.load == plan.scenario("S1")?.load)
        #expect(s1.commandLine.hasSuffix(" --url wss://127.0.0.1:$PORT/ws --tls-ca $CERT --server-pid $ECHO_PID --redis-pid $REDIS_PID"))
        #expect(plan.scenario("S4-tls")?.load == plan.scenario("S4")?.load)
        #expect(plan.scenario("S4-tls-resumed")?.load == .generator(["joinstorm", "--connections", "5000", "--rooms", "500", "--concurrency", "100", "--tls-resume"]))
        guard case .idle(let idle) = try #require(plan.scenario("S3-tls")).load else {
            Issue.record("S3-tls is not an idle load")
            return
        }
        #expect(idle.arguments(url: "wss://127.0.0.1:9/ws", tlsCA: "/tmp/c.pem").suffix(5) == ["--url", "wss://127.0.0.1:9/ws", "--tls-ca", "/tmp/c.pem", "--json"])
        #expect(plan.scenario("S3")?.tls == false)
        #expect(BenchSuitePlan(quick: true, only: ["S4-tls"]).stages == [
            BenchSuitePlan.Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S4-tls"], tls: true),
        ])
    }

    @Test func tlsTargetsAreMediansOfTheTLSRuns() {
        var full = BenchReport(mode: "joinstorm", targets: [], parameters: [:])
        full.joinsPerSecond = 2500
        full.latency = BenchLatencySummary(count: 1000, p50: 10_000, p90: 20_000, p99: 40_000, p999: 50_000, max: 60_000, mean: 12_000)
        full.tlsHandshakes = BenchTLSHandshakes(full: 1000, resumed: 0)
        var resumed = full
        resumed.joinsPerSecond = 4000
        resumed.connectionsJoined = 1000
        resumed.tlsHandshakes = BenchTLSHandshakes(full: 1, resumed: 999)
        let idle = BenchReport.idleSuite(
            generators: [{ var r = BenchReport(mode: "idle", targets: [], parameters: [:]); r.connectionsJoined = 2000; r.tlsHandshakes = BenchTLSHandshakes(full: 2000); return r }()],
            requested: 2000, target: "wss://x", cpu: BenchCPUUsage(windowSeconds: 5, serverSeconds: 0.05, serverProcesses: 3, redisSeconds: 0, generatorSeconds: 0),
            baselineBytes: 10_000_000, holdingBytes: 30_000_000)
        #expect(idle.tlsHandshakes == BenchTLSHandshakes(full: 2000))
        let results: [String: [BenchReport]] = [
            "S1": [Self.fanout(rate: 2_000_000, serverCores: 1.25)],
            "S1-tls": [Self.fanout(rate: 1_500_000, serverCores: 1.25)],
            "S3-tls": [idle], "S4-tls": [full], "S4-tls-resumed": [resumed],
        ]
        let report = BenchSuiteReport(plan: BenchSuitePlan(quick: true), machine: Self.machine, generatedAt: "now", results: results, workDirectory: "/tmp/t")
        #expect(report.targets.tlsS1Share == 0.75)
        #expect(report.targets.tlsS3BytesPerConnection == 10_000)
        let text = report.markdown()
        #expect(text.contains("| S1 over TLS | ≥ 1,000,000 deliveries/s, zero loss | 1500000 deliveries/s (0.75 × plain S1), lost 0 | met, loss met |"))
        #expect(text.contains("| S3 idle over TLS | ≤ 12 KB RSS per connection | 10000 B per connection, server 0.010 cores | met |"))
        #expect(text.contains("| S4 over TLS, full handshakes | report | 2500 handshakes + joins/s, p99 40.00 ms | reported |"))
        #expect(text.contains("| S4 over TLS, resumed | report | 4000 handshakes + joins/s, p99 40.00 ms; 999 of 1000 resumed | reported |"))
        #expect(text.contains("| TLS handshakes, resumed | 999 | 999 | 999 |"))
    }

    @Test func quickPlanIsSmallAndRunsOnceUnlessTold() {
        let quick = BenchSuitePlan(quick: true)
        #expect(quick.runs == 1)
        #expect(quick.sizes.duration == 3 && quick.sizes.idleConnections == 2000 && quick.sizes.idleGenerators == 1)
        #expect(quick.scenario("S4")?.heading == "S4 join storm: 1000 clients connect + join + history, 100 at a time, 2 workers")
        #expect(BenchSuitePlan(quick: true, runs: 2).runs == 2)
        #expect(BenchSuitePlan(quick: false, runs: 0).runs == 1)
    }

    // MARK: report

    static let machine = BenchMachine(
        cpuModel: "AMD EPYC", cores: 2, memoryBytes: 25_232_932_864, kernel: "6.1.0", swiftVersion: "Swift version 6.3.1",
        redisVersion: "Redis server v=7.0.15", openFileLimit: 20000, loadBefore: "0.10 0.20 0.30", loadAfter: "1.00 0.50 0.40")

    static func fanout(rate: Double, p99Microseconds: Double = 5000, lost: Int = 0, serverCores: Double, generatorCores: Double = 0.5, redisCores: Double = 0.25, sent: Double = 0) -> BenchReport {
        var report = BenchReport(mode: "fanout", targets: [], parameters: [:])
        report.deliveriesPerSecond = rate
        report.sentPerSecond = sent
        report.counts = BenchDeliveryCounts(sent: 10, expected: 100 + lost, delivered: 100)
        report.latency = BenchLatencySummary(count: 1, p50: 1000, p90: 2000, p99: p99Microseconds, p999: 9000, max: 10000, mean: 1500)
        report.cpu = BenchCPUUsage(
            windowSeconds: 10, serverSeconds: serverCores * 10, serverProcesses: 3, redisSeconds: redisCores * 10, generatorSeconds: generatorCores * 10)
        return report
    }

    @Test func targetsComeFromMediansAndRatiosOfTheRuns() {
        let results: [String: [BenchReport]] = [
            "S1": [Self.fanout(rate: 2_000_000, serverCores: 1.25), Self.fanout(rate: 1_800_000, serverCores: 1.25), Self.fanout(rate: 2_200_000, serverCores: 1.25)],
            "S5-S1-w1": [Self.fanout(rate: 1_600_000, serverCores: 1.0)],
            "S2-10k": [Self.fanout(rate: 100_000, p99Microseconds: 12_340, lost: 3, serverCores: 1, sent: 9999)],
        ]
        let report = BenchSuiteReport(plan: BenchSuitePlan(quick: false), machine: Self.machine, generatedAt: "2026-12-02 17:00 UTC", results: results, workDirectory: "/tmp/x")
        let targets = report.targets
        #expect(targets.s1Rate == 2_000_000)
        #expect(targets.s5Ratio == 1.25)
        #expect(targets.s1PerCore == 1_600_000 && targets.w1PerCore == 1_600_000 && targets.s5PerCoreRatio == 1)
        #expect(targets.s1Others == 0.75)
        #expect(targets.s5Ceiling == 1.25)   // (2 − 0.75) / 1.0
        #expect(targets.s4Rate == nil && targets.s5PerCoreRatio == 1)

        let text = report.markdown()
        #expect(text.hasPrefix("# Echo benchmarks\n\nGenerated by `make bench` (`echo-bench suite`) on 2026-12-02 17:00 UTC; do not edit by hand.\n\nHow to run"))
        #expect(!text.contains("Quick mode"))
        #expect(text.contains("- CPU: AMD EPYC, 2 cores online\n- Memory: 23.5 GiB; kernel 6.1.0\n"))
        #expect(text.contains("- Load average (1, 5, 15 min) before the runs: 0.10 0.20 0.30; after: 1.00 0.50 0.40\n"))
        #expect(text.contains("- 3 run(s) per scenario;"))
        #expect(text.contains("| S1 fan-out | ≥ 400,000 deliveries/s, zero loss | 2000000 deliveries/s, lost 0 | met, loss met |"))
        #expect(text.contains("| S2 at 10k msgs/s | p99 ≤ 10 ms, zero loss | p99 12.34 ms, lost 3 | **not met**, loss **not met** |"))
        #expect(text.contains("| S2 at 20k msgs/s | p99 ≤ 20 ms, zero loss | p99 n/a ms, lost n/a (told by n/a recovered:false notices; silent gaps in the worst run: n/a) | n/a, loss n/a, silent gaps n/a |"))
        #expect(text.contains("| S5 scale (S1) | 2 workers ≥ 1.6 × 1 worker | 2000000 / 1600000 = 1.25 × | **not met** |"))
        #expect(text.contains("= 1.00 × | expected at equal efficiency per core on 2 shared cores: (2 − 0.75 generator + Redis) / 1.00 = 1.25 × |"))
        #expect(text.contains("at 9999/n/a msgs/s in | see note |"))
        // Every scenario has its section, command and table (or says it has none).
        #expect(text.contains("## S1 fan-out: 1 room × 100 members, all send, saturate (window 4), 2 workers\n\n`echo-bench fanout --connections 100 "))
        #expect(text.contains("| deliveries/s | 2,000,000 | 1,800,000 | 2,200,000 | 20.0 % |"))
        #expect(text.contains("## S4 join storm: 5000 clients connect + join + history, 100 at a time, 2 workers\n\n`echo-bench joinstorm --connections 5000 --rooms 500 --concurrency 100 --url ws://127.0.0.1:$PORT/ws --server-pid $ECHO_PID --redis-pid $REDIS_PID`\n\n_No successful run._\n"))
        #expect(text.hasSuffix("\nRaw JSON reports and logs of this run: `/tmp/x` (temporary).\n"))
    }

    @Test func quickReportSaysSoAndMissingFiguresAreNotApplicable() {
        let report = BenchSuiteReport(plan: BenchSuitePlan(quick: true), machine: Self.machine, generatedAt: "now", results: [:], workDirectory: "/tmp/y")
        let text = report.markdown()
        #expect(text.contains("> **Quick mode** (`BENCH_QUICK=1`): one run per scenario, 3 s windows, S3 with 2000\n> connections, S4 with 1000 clients."))
        #expect(text.contains("| S5 scale (S1) | 2 workers ≥ 1.6 × 1 worker | n/a / n/a = n/a × | n/a |"))
        #expect(text.contains("(2 − 0.00 generator + Redis) / n/a = n/a × |"))
        #expect(text.components(separatedBy: "_No successful run._").count - 1 == 16)
    }

    @Test func aRunWithoutDeliveriesHasNoLatencyToMeetATarget() {
        var silent = Self.fanout(rate: 0, lost: 190_000, serverCores: 1)
        silent.latency = BenchLatencySummary(count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)
        silent.counts.resyncs = 40
        let report = BenchSuiteReport(plan: BenchSuitePlan(quick: true), machine: Self.machine, generatedAt: "now", results: ["S2-20k": [silent]], workDirectory: "/tmp/z")
        #expect(report.targets.s2bP99 == nil)
        #expect(report.markdown().contains(
            "| S2 at 20k msgs/s | p99 ≤ 20 ms, zero loss | p99 n/a ms, lost 190000 (told by 40 recovered:false notices; silent gaps in the worst run: 0) | n/a, loss **not met**, silent gaps met |"))
        #expect(!BenchSummaryTable.markdown([silent]).contains("latency p99"))
    }

    @Test func oneRunsSilentGapIsNotHiddenByTheMedian() {
        var told = Self.fanout(rate: 1000, lost: 50, serverCores: 1)
        told.counts.resyncs = 3
        var gap = told
        gap.counts.silentGaps = 2
        let report = BenchSuiteReport(plan: BenchSuitePlan(quick: false), machine: Self.machine, generatedAt: "now", results: ["S2-20k": [told, told, gap]], workDirectory: "/tmp/z")
        #expect(report.targets.s2bSilentGapsMax == 2)
        #expect(report.targets.s2bResyncs == 3)
        #expect(report.markdown().contains("silent gaps in the worst run: 2) | met, loss **not met**, silent gaps **not met** |"))
    }

    @Test func verdictsCompareInTheTargetsDirection() {
        #expect(BenchSuiteReport.verdict(400_000, true, 400_000) == "met")
        #expect(BenchSuiteReport.verdict(399_999, true, 400_000) == "**not met**")
        #expect(BenchSuiteReport.verdict(10, false, 10) == "met")
        #expect(BenchSuiteReport.verdict(10.01, false, 10) == "**not met**")
        #expect(BenchSuiteReport.verdict(nil, true, 1) == "n/a")
        #expect(BenchSuiteReport.ratio(3, 0) == nil)
        #expect(BenchSuiteReport.ratio(2, 3) == 0.67)
    }

    // MARK: S6

    @Test func scalingStepsRunOnTheirOwnLayoutsWithTwoGenerators() throws {
        let plan = BenchSuitePlan(quick: false)
        guard case .scaling(let load) = try #require(plan.scenario("S6")).load else {
            Issue.record("S6 is not a scaling load")
            return
        }
        #expect(load.connections == 20000 && load.generators == 2 && load.shards == 3 && load.rates == [2000, 4000, 6000, 8000])
        #expect(load.arguments(rate: 2000, startFile: "/tmp/go") == [
            "fanout", "--connections", "10000", "--rooms", "1000", "--rate", "1000", "--message-size", "100", "--duration", "10",
            "--warmup", "2", "--start-file", "/tmp/go",
        ])
        #expect(load.arguments(rate: 3001, startFile: "/g").contains("1500.5"))
        #expect(plan.stages.dropLast().last == BenchSuitePlan.Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S6"], serverPerLayout: true))
        #expect(BenchSuitePlan(quick: true, only: ["S6"]).stages.map(\.serverPerLayout) == [true])
        let quick = BenchSuitePlan(quick: true)
        guard case .scaling(let small) = try #require(quick.scenario("S6")).load else { return }
        #expect(small.connections == 4000 && small.rates.count == 2 && small.duration == 3)
        #expect(plan.scenario("S6")?.commandLine.hasPrefix(
            "2 × echo-bench fanout --connections 10000 --rooms 1000 --rate $RATE/2 --message-size 100 --duration 10 --warmup 2 --start-file $GO --url ws://127.0.0.1:$PORT/ws") == true)
    }

    /// A generator's report with `sent` messages in a 10 s window and Redis CPU per process.
    static func scalingGenerator(sent: Int, p99Microseconds: Double, shardSeconds: [Double]?, lost: Int = 0, errors: Int = 0) -> BenchReport {
        var report = BenchReport(mode: "fanout", targets: [], parameters: [:])
        report.connectionsRequested = 100
        report.connectionsJoined = 100
        report.measuredSeconds = 10
        report.sentPerSecond = Double(sent) / 10
        report.deliveriesPerSecond = Double(sent)
        report.counts = BenchDeliveryCounts(sent: sent, expected: sent * 10, delivered: sent * 10 - lost, errors: errors)
        report.latency = BenchLatencySummary(count: sent * 10, p50: 500, p90: 900, p99: p99Microseconds, p999: p99Microseconds, max: p99Microseconds, mean: 600)
        if let shardSeconds {
            // The machine was busy 18 s: server 5, Redis, this generator 4, the other generator 4, 1 + Redis elsewhere.
            report.cpu = BenchCPUUsage(
                windowSeconds: 10, serverSeconds: 5, serverProcesses: 3, redisSeconds: shardSeconds.reduce(0, +), generatorSeconds: 4,
                machineSeconds: 18, redisShardSeconds: shardSeconds.count > 1 ? shardSeconds : nil)
        }
        return report
    }

    @Test func aStepAddsUpItsGeneratorsAndBoundsTheirP99() throws {
        // 20,000 messages in 10 s; the first generator's window charged Redis 0.3 + 0.25 + 0.25 s.
        let step = BenchScalingStep(offeredRate: 2000, connectionsRequested: 200, reports: [
            Self.scalingGenerator(sent: 10000, p99Microseconds: 4000, shardSeconds: [0.3, 0.25, 0.25]),
            Self.scalingGenerator(sent: 10000, p99Microseconds: 9000, shardSeconds: [0.31, 0.26, 0.25]),
        ])
        #expect(step.messagesPerSecond == 2000 && step.connectionsJoined == 200)
        #expect(step.latencyP99Milliseconds == 9)
        let cores = try #require(step.shardCores)
        #expect(zip(cores, [0.03, 0.025, 0.025]).allSatisfy { abs($0 - $1) < 1e-12 })
        let micro = try #require(step.redisMicrosecondsPerMessage)
        #expect(abs(micro - 40) < 1e-9)   // 0.08 cores / 2000 msgs/s
        let deviation = try #require(step.shardDeviation)
        #expect(abs(deviation - 0.125) < 1e-9)   // 0.03 against a mean of 0.02667
        #expect(step.passes(p99LimitMilliseconds: 10) && !step.passes(p99LimitMilliseconds: 8))
        #expect(step.serverCores == 0.5 && step.generatorCores == 0.8)
        #expect(abs((step.otherCores ?? 0) - 0.42) < 1e-9)   // (18 − 5 − 0.8 − 4) / 10 − 0.4 of the other generator

        // Refused messages are not stored; a lost delivery or a missing generator fails the step.
        let refused = BenchScalingStep(offeredRate: 2000, connectionsRequested: 200, reports: [
            Self.scalingGenerator(sent: 10000, p99Microseconds: 4000, shardSeconds: [0.4], errors: 5000),
            Self.scalingGenerator(sent: 10000, p99Microseconds: 4000, shardSeconds: [0.4]),
        ])
        #expect(refused.storedPerSecond == 1500 && refused.shardDeviation == nil && !refused.passes(p99LimitMilliseconds: 10))
        let lossy = BenchScalingStep(offeredRate: 2000, connectionsRequested: 200, reports: [
            Self.scalingGenerator(sent: 10000, p99Microseconds: 4000, shardSeconds: [0.4], lost: 1),
            Self.scalingGenerator(sent: 10000, p99Microseconds: 4000, shardSeconds: [0.4]),
        ])
        #expect(!lossy.passes(p99LimitMilliseconds: 10))
        #expect(!BenchScalingStep(offeredRate: 2000, connectionsRequested: 200, reports: [lossy.reports[1]]).passes(p99LimitMilliseconds: 10))
    }

    static func scalingRun(_ layout: BenchScalingRun.Layout, p99s: [Double], shardSeconds: [Double]) -> BenchScalingRun {
        let steps = p99s.enumerated().map { index, p99 in
            BenchScalingStep(offeredRate: 2000 * (index + 1), connectionsRequested: 200, reports: [
                Self.scalingGenerator(sent: 10000 * (index + 1), p99Microseconds: p99, shardSeconds: shardSeconds),
                Self.scalingGenerator(sent: 10000 * (index + 1), p99Microseconds: p99, shardSeconds: shardSeconds),
            ])
        }
        return BenchScalingRun(layout: layout, shards: shardSeconds.count, p99LimitMilliseconds: 10, steps: steps)
    }

    @Test func scalingTargetsCompareTheLayoutsAtTheBaseRate() throws {
        let single = Self.scalingRun(.single, p99s: [2000, 5000, 30000], shardSeconds: [0.6])
        #expect(single.highestPassingRate == 4000 && single.stoppedAtFailure)
        let cluster = Self.scalingRun(.cluster, p99s: [3000, 4000], shardSeconds: [0.3, 0.25, 0.27])
        #expect(cluster.highestPassingRate == 4000 && !cluster.stoppedAtFailure)
        let report = BenchSuiteReport(
            plan: BenchSuitePlan(quick: false, only: ["S6"]), machine: Self.machine, generatedAt: "now", results: [:], workDirectory: "/tmp/s6",
            scaling: [single, cluster])
        let targets = report.scalingTargets
        #expect(targets.baseRate == 2000 && abs((targets.singleCost ?? 0) - 30) < 1e-9 && targets.costRatio == 1.37)
        let text = report.markdown()
        #expect(text.contains("| Redis CPU per message, cluster ≤ 1.3 × one Redis | 30.0 µs (one Redis) vs 41.0 µs (cluster) = 1.37 × | **not met** |"))
        #expect(text.contains("| cluster spreads Redis CPU within ±20 % across its 3 shards | 0.030 / 0.025 / 0.027 cores; busiest or idlest shard 9.8 % from the mean | met |"))
        #expect(text.contains("| highest offered rate with p99 ≤ 10 ms | one Redis: 4,000 msgs/s (6,000 missed); cluster: ≥ 4,000 msgs/s (every step passed) | reported |"))
        #expect(text.contains("**Redis Cluster, 3 primaries (no replicas)**\n\n| offered msgs/s |"))
        #expect(text.contains("| 6,000 | 6,000 | 60,000 | 0.50 ms | 30.00 ms | 0 | 0 | 200/200 | 0.060 | 10.0 | – | 0.50 / 0.80 / 0.44 | **no** |"))
        #expect(text.contains("| 2,000 | 2,000 | 20,000 | 0.50 ms | 3.00 ms | 0 | 0 | 200/200 | 0.082 (0.030 / 0.025 / 0.027) | 41.0 | ±9.8 % | 0.50 / 0.80 / 0.42 | yes |"))
        #expect(!text.contains("was not run"))
    }

    @Test func aClusterThatDidNotRunIsSaidPlainly() {
        let single = Self.scalingRun(.single, p99s: [2000], shardSeconds: [0.6])
        let cluster = BenchScalingRun(layout: .cluster, shards: 3, p99LimitMilliseconds: 10, note: "Not run: echo did not become healthy.")
        let report = BenchSuiteReport(
            plan: BenchSuitePlan(quick: true, only: ["S6"]), machine: Self.machine, generatedAt: "now", results: [:], workDirectory: "/tmp/s6",
            scaling: [single, cluster])
        #expect(report.scalingTargets.costRatio == nil)
        let text = report.markdown()
        #expect(text.contains("| Redis CPU per message, cluster ≤ 1.3 × one Redis | 30.0 µs (one Redis) vs n/a (cluster) = n/a × | n/a |"))
        #expect(text.contains("cluster: not run | reported |"))
        #expect(text.contains("Redis Cluster, 3 primaries (no replicas): Not run: echo did not become healthy."))
        #expect(text.contains("**Redis Cluster, 3 primaries (no replicas)**\n\nNot run: echo did not become healthy.\n"))
        #expect(text.contains("**The cluster half of S6 was not run**, so its targets have no measurement."))
    }

    // MARK: S3 and the machine

    @Test func idleRunAddsUpItsGenerators() {
        func generator(joined: Int, failed: Int) -> BenchReport {
            var report = BenchReport(mode: "idle", targets: [], parameters: [:])
            report.connectionsJoined = joined
            report.connectionsFailed = failed
            report.errorsByCode = ["join: CLOSED": failed]
            return report
        }
        let cpu = BenchCPUUsage(windowSeconds: 25, serverSeconds: 0.5, serverProcesses: 3, redisSeconds: 0.1, generatorSeconds: 0.3, machineSeconds: 1.5)
        let report = BenchReport.idleSuite(
            generators: [generator(joined: 9990, failed: 10), generator(joined: 10000, failed: 0)], requested: 20000,
            target: "ws://127.0.0.1:9/ws", cpu: cpu, baselineBytes: 10_000_000, holdingBytes: 85_000_000)
        #expect(report.mode == "idle")
        #expect(report.connectionsRequested == 20000 && report.connectionsJoined == 19990 && report.connectionsFailed == 10)
        #expect(report.errorsByCode == ["join: CLOSED": 10])
        #expect(report.measuredSeconds == 25)
        #expect(report.memory?.bytesPerConnection == 75_000_000.0 / 19990)
        #expect(BenchFigure.named("rssPerConnection")?.summary(of: [report])?.median == 75_000_000.0 / 19990)
        #expect(BenchFigure.named("serverCores")?.summary(of: [report])?.median == 0.02)
    }

    @Test func machineFieldsAreReadFromProc() {
        #expect(BenchMachine.cpuModel(cpuinfo: "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n") == "AMD EPYC 7B13")
        #expect(BenchMachine.cpuModel(cpuinfo: "processor\t: 0\n") == nil)
        #expect(BenchMachine.memoryBytes(meminfo: "MemTotal:       24641536 kB\nMemFree:        1 kB\n") == 24_641_536 * 1024)
        #expect(BenchMachine.load(loadavg: "2.27 1.82 1.56 3/412 12345\n") == "2.27 1.82 1.56")
        #expect(BenchMachine.redisVersion(versionLine: "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1") == "Redis server v=7.0.15")
    }
}
