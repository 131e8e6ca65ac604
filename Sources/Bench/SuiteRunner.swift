import EchoBenchKit
import Foundation
import Logging

/// Runs the plan of `echo-bench suite`: a private Redis, `echo` with the plan's worker counts, and
/// every scenario as a child `echo-bench` (a fresh process per run, charged its own CPU, as a user
/// would run it), collecting the JSON reports by scenario. Everything it starts listens on
/// 127.0.0.1 and is stopped by ``SuiteProcessRegistry`` however the suite ends.
final class SuiteRunner {
    struct Paths {
        var bench: String
        var echo: String
        var redisServer: String
        /// redis-cli, for S6's `--cluster create`; nil when not installed (S6 then runs one Redis only).
        var redisCLI: String?
        /// E2E-browser's script; its repository's `.venv/bin/python3` runs it when there is one.
        var browserScript: String
        /// Temporary directory for the raw reports (`results/`) and logs (`logs/`).
        var work: String
        var results: String { work + "/results" }
        var logs: String { work + "/logs" }
    }

    let plan: BenchSuitePlan
    let paths: Paths
    let logger: Logger
    private(set) var results: [String: [BenchReport]] = [:]
    /// S6: one run per Redis layout.
    private(set) var scaling: [BenchScalingRun] = []
    /// E2E-browser, once it ran (or found it could not).
    private(set) var browserCrypto: BenchBrowserCryptoOutcome?
    private(set) var loadBefore = ""

    private var redis: SuiteProcess?
    private var redisPort = 0
    private var echo: SuiteProcess?
    private var echoPort = 0
    private var echoStarts = 0
    /// The running server serves TLS (with `certificate`).
    private var echoTLS = false
    private var certificate: Certificate?

    /// The throwaway certificate of the TLS rows: self-signed, P-256 (what certbot issues by
    /// default), for localhost and 127.0.0.1. The generators trust exactly it.
    struct Certificate {
        var chain: String
        var key: String
    }

    init(plan: BenchSuitePlan, paths: Paths, logger: Logger) {
        self.plan = plan
        self.paths = paths
        self.logger = logger
    }

    func run() async throws {
        if plan.stages.contains(where: \.needsServer) { try startRedis() }
        loadBefore = BenchMachine.currentLoad()
        for stage in plan.stages {
            if !stage.needsServer {
                for id in stage.scenarioIDs { try await runScenario(id, run: 1) }
            } else if stage.serverPerLayout {
                for id in stage.scenarioIDs { try await runScaling(id, workers: stage.workers) }
            } else if stage.freshServerPerRun {
                for run in 1...plan.runs {
                    try await startEcho(workers: stage.workers, tls: stage.tls, settings: stage.settings)
                    for id in stage.scenarioIDs { try await runScenario(id, run: run) }
                    stopEcho()
                }
            } else if stage.interleaved {
                try await startEcho(workers: stage.workers, tls: stage.tls, settings: stage.settings)
                for run in 1...plan.runs {
                    for id in stage.scenarioIDs { try await runScenario(id, run: run) }
                }
                stopEcho()
            } else {
                try await startEcho(workers: stage.workers, tls: stage.tls, settings: stage.settings)
                for id in stage.scenarioIDs {
                    for run in 1...plan.runs { try await runScenario(id, run: run) }
                }
                stopEcho()
            }
        }
    }

    private var url: String { "\(echoTLS ? "wss" : "ws")://127.0.0.1:\(echoPort)/ws" }

    /// What a generator needs to trust the running server.
    private var tlsArguments: [String] { echoTLS ? ["--tls-ca", certificate?.chain ?? ""] : [] }

    private func runScenario(_ id: String, run: Int) async throws {
        guard let scenario = plan.scenario(id) else { return }
        let report: BenchReport?
        switch scenario.load {
        case .generator(let arguments):
            report = try await runGenerator(scenario, run: run, arguments: arguments)
            // Let the server finish the leave events of the closed connections.
            try await SuiteInterrupt.sleep(seconds: 2)
        case .idle(let idle):
            report = try await runIdle(idle, run: run)
            try await SuiteInterrupt.sleep(seconds: 3)
        case .scaling:
            report = nil
        case .browserCrypto:
            browserCrypto = try await runBrowserCrypto()
            report = nil
        }
        if let report { results[id, default: []].append(report) }
    }

    // MARK: Scenarios

    private func runGenerator(_ scenario: BenchSuiteScenario, run: Int, arguments: [String]) async throws -> BenchReport? {
        guard let echo, let redis else { return nil }
        let name = "\(scenario.id)-\(run)"
        let output = "\(paths.results)/\(name).json"
        let log = "\(paths.logs)/\(name).log"
        let generator = try SuiteProcess(
            name: name, executable: paths.bench,
            arguments: arguments + ["--url", url] + tlsArguments + ["--server-pid", "\(echo.pid)", "--redis-pid", "\(redis.pid)", "--json"],
            output: output, errors: log)
        logger.info("run", metadata: [
            "scenario": "\(scenario.id)", "run": "\(run)/\(plan.runs)", "pid": "\(generator.pid)",
            "command": "echo-bench \(arguments.joined(separator: " "))",
        ])
        // Every run ends by itself (fanout waits at most --drain-limit after its window); the
        // limit only guards against a hung generator.
        let status = try await generator.waitForExit(limit: 900)
        let report = Self.readReport(output)
        if status != 0 {
            logger.warning("run failed; kept its report if it wrote one", metadata: ["scenario": "\(name)", "status": "\(status)", "log": "\(log)"])
        }
        if let report { logResult(report, name: name) }
        return report
    }

    /// One line per run with the figures its scenario is about.
    private func logResult(_ report: BenchReport, name: String) {
        var metadata: Logger.Metadata = ["scenario": "\(name)", "joined": "\(report.connectionsJoined)/\(report.connectionsRequested)"]
        if report.mode == "fanout" {
            metadata["deliveriesPerSecond"] = "\(Format.rate(report.deliveriesPerSecond))"
            metadata["lost"] = "\(report.counts.lost)"
        }
        if let joins = report.joinsPerSecond { metadata["joinsPerSecond"] = "\(Format.rate(joins))" }
        if let latency = report.latency, latency.count > 0 { metadata["p99"] = "\(Format.millis(latency.p99)) ms" }
        logger.info("result", metadata: metadata)
    }

    /// S3: the generators connect and hold; the suite samples the server's memory before they
    /// start and its CPU and memory over the hold window.
    private func runIdle(_ idle: BenchSuiteScenario.IdleLoad, run: Int) async throws -> BenchReport? {
        guard let echo, let redis else { return nil }
        var sampler = ProcessSampler(serverPID: echo.pid, redisPIDs: [redis.pid])
        let baseline = sampler.sample()
        var generators: [SuiteProcess] = []
        for index in 1...idle.generators {
            generators.append(try SuiteProcess(
                name: "S3-\(run)-\(index)", executable: paths.bench, arguments: idle.arguments(url: url, tlsCA: tlsArguments.last),
                output: "\(paths.results)/idle-\(run)-\(index).json", errors: "\(paths.logs)/S3-\(run)-\(index).log"))
        }
        sampler.generatorPIDs = generators.map(\.pid)
        logger.info("run", metadata: ["scenario": "S3", "run": "\(run)/\(plan.runs)", "pid": "\(sampler.generatorPIDs.map(String.init).joined(separator: ","))"])
        // Wait until every generator holds all its connections (or gave up on some): each says so
        // on stderr once.
        let holdingBy = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < holdingBy {
            let holding = (1...idle.generators).filter { (Self.read("\(paths.logs)/S3-\(run)-\($0).log") ?? "").contains("holding") }
            if holding.count == idle.generators || generators.allSatisfy({ !$0.isRunning }) { break }
            try await SuiteInterrupt.sleep(seconds: 0.2)
        }
        try await SuiteInterrupt.sleep(seconds: 3)
        let start = sampler.sample()
        try await SuiteInterrupt.sleep(seconds: Double(idle.holdSeconds))
        let end = sampler.sample()
        for generator in generators { _ = try await generator.waitForExit(limit: Double(BenchSuiteScenario.IdleLoad.holdMargin + 60)) }
        let reports = (1...idle.generators).compactMap { Self.readReport("\(paths.results)/idle-\(run)-\($0).json") }
        let report = BenchReport.idleSuite(
            generators: reports, requested: idle.connections, target: url, cpu: ProcessSampler.usage(from: start, to: end),
            baselineBytes: baseline.serverResidentBytes ?? 0, holdingBytes: start.serverResidentBytes ?? 0)
        try Self.write(report, to: "\(paths.results)/S3-\(run).json")
        logger.info("idle", metadata: [
            "joined": "\(report.connectionsJoined)", "failed": "\(report.connectionsFailed)",
            "rssBefore": "\(baseline.serverResidentBytes ?? 0)", "rssHolding": "\(start.serverResidentBytes ?? 0)",
        ])
        return report
    }

    // MARK: E2E-browser

    /// Runs the page's crypto timing script once (it repeats its own measurements) and reads its
    /// JSON; anything missing or failing becomes the reason the report gives instead of figures.
    private func runBrowserCrypto() async throws -> BenchBrowserCryptoOutcome {
        let script = paths.browserScript
        guard FileManager.default.fileExists(atPath: script) else {
            return .notMeasured(reason: "\(script) not found (the suite looks for it from the directory it runs in, or --browser-script)")
        }
        let chromium = ProcessInfo.processInfo.environment["ECHO_CHROMIUM"] ?? "/usr/bin/chromium"
        guard SuiteExecutable.find(chromium) != nil else {
            return .notMeasured(reason: "no Chromium at \(chromium) (ECHO_CHROMIUM; Debian: apt-get install -y chromium)")
        }
        let repository = URL(fileURLWithPath: script).deletingLastPathComponent().deletingLastPathComponent().path
        guard let python = SuiteExecutable.find("\(repository)/.venv/bin/python3") ?? SuiteExecutable.find("python3") else {
            return .notMeasured(reason: "no python3 (neither \(repository)/.venv/bin/python3 nor one in PATH)")
        }
        let output = "\(paths.results)/E2E-browser.json"
        let log = "\(paths.logs)/E2E-browser.log"
        let process = try SuiteProcess(name: "E2E-browser", executable: python, arguments: [script], output: output, errors: log)
        logger.info("run", metadata: ["scenario": "E2E-browser", "pid": "\(process.pid)", "command": "\(python) \(script)"])
        let status = try await process.waitForExit(limit: 600)
        guard status == 0 else {
            let last = (Self.read(log) ?? "").split(whereSeparator: \.isNewline).last.map(String.init) ?? "nothing on stderr"
            logger.warning("browser crypto run failed", metadata: ["status": "\(status)", "log": "\(log)"])
            return .notMeasured(reason: "\(script) exited with status \(status): \(last) (log: \(log))")
        }
        do {
            let measured = try BenchBrowserCrypto.parse(output: Self.read(output) ?? "")
            logger.info("result", metadata: [
                "scenario": "E2E-browser", "imageEncryptMs": "\(measured.imageEncryptMilliseconds)", "imageDecryptMs": "\(measured.imageDecryptMilliseconds)",
                "historyEncryptMs": "\(measured.historyEncryptMilliseconds)", "historyDecryptMs": "\(measured.historyDecryptMilliseconds)",
            ])
            return .measured(measured)
        } catch {
            return .notMeasured(reason: "\(script) ran but \(error.description) (output: \(output))")
        }
    }

    // MARK: S6

    /// S6: the stepped rates against the suite's Redis, then against a cluster it starts for
    /// the purpose; echo is started on each. A layout that cannot be run (no redis-cli, a cluster
    /// that does not form, an echo that does not serve on it) is reported with the reason.
    private func runScaling(_ id: String, workers: Int) async throws {
        guard let scenario = plan.scenario(id), case .scaling(let load) = scenario.load, let redis else { return }
        for layout in BenchScalingRun.Layout.allCases {
            var run = BenchScalingRun(layout: layout, shards: layout == .single ? 1 : load.shards, p99LimitMilliseconds: load.p99LimitMilliseconds)
            var cluster: SuiteRedisCluster?
            do {
                var redisURL = "redis://127.0.0.1:\(redisPort)"
                var redisPIDs = [redis.pid]
                if layout == .cluster {
                    guard let redisCLI = paths.redisCLI else { throw BenchFailure(description: "redis-cli not found (Debian: apt-get install -y redis-tools)") }
                    let started = try await SuiteRedisCluster.start(
                        shards: load.shards, redisServer: paths.redisServer, redisCLI: redisCLI, directory: paths.work, logs: paths.logs, logger: logger)
                    cluster = started
                    redisURL = started.url
                    redisPIDs = started.pids
                }
                try await startEcho(workers: workers, tls: false, settings: ["REDIS_URL": redisURL])
                for rate in load.rates {
                    let step = try await runScalingStep(load, layout: layout, rate: rate, redisPIDs: redisPIDs)
                    run.steps.append(step)
                    if !run.passes(step) { break }
                }
            } catch let failure as BenchFailure {
                run.note = "Not run\(run.steps.isEmpty ? "" : " further"): \(failure.description)."
                logger.warning("S6 layout not run", metadata: ["layout": "\(layout)", "reason": "\(failure.description)"])
            }
            stopEcho()
            cluster?.stop()
            scaling.append(run)
        }
    }

    /// One rate step: the generators connect, wait for each other, measure one window together.
    private func runScalingStep(_ load: BenchSuiteScenario.ScalingLoad, layout: BenchScalingRun.Layout, rate: Int, redisPIDs: [Int]) async throws -> BenchScalingStep {
        guard let echo else { throw BenchFailure(description: "echo is not running") }
        let name = "S6-\(layout)-\(rate)"
        let startFile = "\(paths.work)/\(name).start"
        let sampled = ["--server-pid", "\(echo.pid)"] + redisPIDs.flatMap { ["--redis-pid", "\($0)"] }
        var generators: [SuiteProcess] = []
        for index in 1...load.generators {
            generators.append(try SuiteProcess(
                name: "\(name)-\(index)", executable: paths.bench,
                arguments: load.arguments(rate: rate, startFile: startFile) + ["--url", url] + sampled + ["--json"],
                output: "\(paths.results)/\(name)-\(index).json", errors: "\(paths.logs)/\(name)-\(index).log"))
        }
        logger.info("run", metadata: [
            "scenario": "S6", "layout": "\(layout)", "rate": "\(rate)", "pid": "\(generators.map { String($0.pid) }.joined(separator: ","))",
        ])
        let readyBy = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < readyBy {
            let ready = (1...load.generators).filter { (Self.read("\(paths.logs)/\(name)-\($0).log") ?? "").contains("waiting for the start file") }
            if ready.count == load.generators || generators.contains(where: { !$0.isRunning }) { break }
            try await SuiteInterrupt.sleep(seconds: 0.05)
        }
        guard FileManager.default.createFile(atPath: startFile, contents: nil) else {
            for generator in generators { generator.stop() }
            throw BenchFailure(description: "cannot write \(startFile)")
        }
        for generator in generators { _ = try await generator.waitForExit(limit: 900) }
        let reports = (1...load.generators).compactMap { Self.readReport("\(paths.results)/\(name)-\($0).json") }
        let step = BenchScalingStep(offeredRate: rate, connectionsRequested: load.connections, reports: reports)
        logger.info("result", metadata: [
            "scenario": "\(name)", "joined": "\(step.connectionsJoined)/\(load.connections)", "messagesPerSecond": "\(Format.rate(step.messagesPerSecond))",
            "p99": "\(step.latencyP99Milliseconds.map { Format.fixed($0, 2) } ?? "n/a") ms", "lost": "\(step.counts.lost)",
            "redisCores": "\(step.shardCores?.map { Format.fixed($0, 3) }.joined(separator: "/") ?? "n/a")",
            "redisMicrosecondsPerMessage": "\(step.redisMicrosecondsPerMessage.map { Format.fixed($0, 1) } ?? "n/a")",
        ])
        try? Self.write(step, to: "\(paths.results)/\(name).json")
        // Let the server finish the leave events of the closed connections.
        try await SuiteInterrupt.sleep(seconds: 2)
        return step
    }

    // MARK: Redis and echo

    private func startRedis() throws {
        redisPort = try SuiteLoopback.freePort()
        let redis = try SuiteProcess(
            name: "redis-server", executable: paths.redisServer,
            arguments: [
                "--port", "\(redisPort)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                "--logfile", "\(paths.logs)/redis.log",
            ],
            output: "\(paths.logs)/redis.out")
        self.redis = redis
        for _ in 0..<50 {
            if SuiteLoopback.redisAnswersPing(port: redisPort) {
                logger.info("redis-server started", metadata: ["port": "\(redisPort)", "pid": "\(redis.pid)"])
                return
            }
            guard redis.isRunning else { break }
            usleep(100_000)
        }
        throw BenchFailure(description: "redis-server did not start (see \(paths.logs)/redis.log)")
    }

    private func startEcho(workers: Int, tls: Bool, settings: [String: String]) async throws {
        echoStarts += 1
        echoPort = try SuiteLoopback.freePort()
        echoTLS = tls
        let log = "\(paths.logs)/echo-\(echoStarts)-w\(workers)\(tls ? "-tls" : "").log"
        // Every benchmark client connects from 127.0.0.1: the per-IP defences would refuse the load.
        var environment = [
            "HOST": "127.0.0.1", "PORT": "\(echoPort)", "REDIS_URL": "redis://127.0.0.1:\(redisPort)", "ECHO_RATE_LIMIT": "0",
            "ECHO_MAX_CONNECTIONS_PER_IP": "0", "ECHO_HANDSHAKES_PER_IP": "0", "ECHO_JOINS_PER_IP": "0", "ECHO_ADMIN_LISTEN": "0",
            "ECHO_LOG_FORMAT": "text",
        ]
        // A TLS port answers no plain HTTP: its health is asked on the admin listener instead.
        var healthPort = echoPort
        if tls {
            let certificate = try await makeCertificate()
            healthPort = try SuiteLoopback.freePort()
            environment["ECHO_TLS_CERT"] = certificate.chain
            environment["ECHO_TLS_KEY"] = certificate.key
            environment["ECHO_ADMIN_LISTEN"] = "127.0.0.1:\(healthPort)"
        }
        environment.merge(settings) { _, stage in stage }
        let echo = try SuiteProcess(
            name: "echo", executable: paths.echo, arguments: ["--workers", "\(workers)"], environment: environment, output: log)
        self.echo = echo
        for _ in 0..<150 {
            if SuiteLoopback.httpStatus(port: healthPort, path: "/health") == 200, workerCount(of: echo) == workers {
                try await SuiteInterrupt.sleep(seconds: 1)
                logger.info("echo started", metadata: ["workers": "\(workers)", "port": "\(echoPort)", "tls": "\(tls)", "pid": "\(echo.pid)"])
                return
            }
            guard echo.isRunning else { break }
            try await SuiteInterrupt.sleep(seconds: 0.2)
        }
        throw BenchFailure(description: "echo --workers \(workers) did not become healthy (see \(log))")
    }

    /// Made once per suite with the openssl CLI, in the work directory.
    private func makeCertificate() async throws -> Certificate {
        if let certificate { return certificate }
        guard let openssl = SuiteExecutable.find("openssl") else {
            throw BenchFailure(description: "openssl not found (Debian: apt-get install -y openssl)")
        }
        let made = Certificate(chain: "\(paths.work)/tls-cert.pem", key: "\(paths.work)/tls-key.pem")
        let log = "\(paths.logs)/openssl.log"
        let process = try SuiteProcess(
            name: "openssl", executable: openssl,
            arguments: [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout", made.key, "-out", made.chain,
            ],
            output: log)
        guard try await process.waitForExit(limit: 30) == 0 else {
            throw BenchFailure(description: "openssl could not make the suite's certificate (see \(log))")
        }
        certificate = made
        return made
    }

    private func stopEcho() {
        echo?.stop()
        echo = nil
    }

    private func workerCount(of echo: SuiteProcess) -> Int {
        BenchProcessStat.descendants(of: echo.pid, in: ProcessSampler.allProcesses()).filter { $0.command == "echo-worker" }.count
    }

    // MARK: Files

    static func readReport(_ path: String) -> BenchReport? {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return try? JSONDecoder().decode(BenchReport.self, from: data)
    }

    static func write(_ report: some Encodable, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(report).write(to: URL(fileURLWithPath: path))
    }

    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }
}
