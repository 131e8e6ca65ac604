import ArgumentParser
import EchoBenchKit
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `echo-bench suite`: the standard scenarios S1–S5 (and S1, S3, S4 over TLS, S1 in encrypted rooms) against a private
/// Redis and `echo`, three runs each, and S6 against one Redis and a Redis Cluster, and BENCHMARKS.md with the median and spread of every
/// figure. `make bench` builds the release binaries and calls it (scripts/bench.sh);
/// docs/benchmarks.md explains the method.
struct SuiteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suite",
        abstract: "Run the standard scenarios against a private Redis and echo; write BENCHMARKS.md.")

    @Flag(help: "One short run per scenario, small S3/S4 (for development; not comparable with a full run).")
    var quick = false

    @Option(help: "Runs per scenario (default 3, quick 1).")
    var runs: Int?

    @Option(help: "Run only these scenarios (comma-separated ids: S1, S1-e2e, S2-10k, S2-20k, S3, S4, S5-S1-w1, S5-S2-w1, S1-tls, S1-tls-compact, S3-tls, S3-tls-compact, S4-tls, S4-tls-resumed, S6, E2E-browser).")
    var only: String?

    @Option(help: "Where to write the report.")
    var out = "BENCHMARKS.md"

    @Option(help: "The echo supervisor to start (default: the echo next to this echo-bench).")
    var echo: String?

    @Option(help: "redis-server to start: a path, or a name looked up in PATH.")
    var redisServer = "redis-server"

    @Option(help: "redis-cli, to create S6's cluster: a path, or a name looked up in PATH.")
    var redisCli = "redis-cli"

    @Option(help: "The script timing the page's crypto in Chromium (E2E-browser); its repository's .venv/bin/python3 runs it when there is one.")
    var browserScript = BenchSuitePlan.browserCryptoScript

    func validate() throws {
        if let runs, runs < 1 { throw ValidationError("--runs must be at least 1") }
        let known = Set(BenchSuitePlan(quick: quick).scenarios.map(\.id))
        for id in onlyIDs ?? [] where !known.contains(id) {
            throw ValidationError("--only: unknown scenario \(id); known: \(known.sorted().joined(separator: ", "))")
        }
    }

    private var onlyIDs: Set<String>? {
        only.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) }
    }

    func run() async throws {
        EchoBench.bootstrapLogging()
        let logger = Logger(label: "echo.bench")
        let bench = SuiteExecutable.current
        let echoPath = echo ?? URL(fileURLWithPath: bench).deletingLastPathComponent().appendingPathComponent("echo").path
        guard SuiteExecutable.find(echoPath) != nil else { throw BenchFailure(description: "no echo binary at \(echoPath) (--echo)") }
        guard let redisPath = SuiteExecutable.find(redisServer) else {
            throw BenchFailure(description: "\(redisServer) not found (Debian: apt-get install -y redis-server)")
        }
        var template = Array("/tmp/echo-bench.XXXXXX".utf8CString)
        guard let work = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw BenchFailure(description: "cannot create a directory under /tmp")
        }
        let paths = SuiteRunner.Paths(
            bench: bench, echo: echoPath, redisServer: redisPath, redisCLI: SuiteExecutable.find(redisCli), browserScript: browserScript, work: work)
        try FileManager.default.createDirectory(atPath: paths.results, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: paths.logs, withIntermediateDirectories: true)

        let plan = BenchSuitePlan(quick: quick, runs: runs, only: onlyIDs)
        let runner = SuiteRunner(plan: plan, paths: paths, logger: logger)
        SuiteInterrupt.install()
        do {
            defer { SuiteProcessRegistry.shared.stopAll() }
            try await runner.run()
        } catch let interrupted as SuiteInterruptedError {
            logger.error("stopped everything it started", metadata: ["reason": "\(interrupted)"])
            throw ExitCode(interrupted.exitCode)
        }

        logger.info("writing report", metadata: ["path": "\(out)"])
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        let report = BenchSuiteReport(
            plan: plan, machine: .probe(redisServer: redisPath, loadBefore: runner.loadBefore), generatedAt: formatter.string(from: Date()),
            results: runner.results, workDirectory: work, scaling: runner.scaling, browserCrypto: runner.browserCrypto)
        let text = report.markdown()
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        FileHandle.standardError.write(Data(text.utf8))
        logger.info("done", metadata: ["path": "\(out)"])
    }
}
