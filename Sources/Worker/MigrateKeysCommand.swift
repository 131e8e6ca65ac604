import ArgumentParser
import EchoCore
import EchoShared
import Foundation
import Logging
import NIOCore
import NIOPosix

/// `echo-worker migrate-keys` (what `echo migrate-keys` runs): copies a Redis in today's key
/// layout into a Redis Cluster in the tagged layout, history included (``KeyMigrator``). Prints
/// one line per kind of key; exits 1 on a refusal or a failure.
struct MigrateKeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-keys",
        abstract: "Copy a Redis in today's key layout into a Redis Cluster in the tagged layout (history, presence, dedupe).",
        discussion: """
            Stop Echo on the old Redis first (or run again once it is stopped: keys already copied are \
            left as they are), then start Echo with REDIS_URL set to the cluster. rediss:// uses \
            ECHO_REDIS_CA and ECHO_REDIS_TLS_SERVER_NAME from the environment.
            """
    )

    @Option(help: "The Redis in today's layout: redis://, rediss:// or unix://.")
    var from: String

    @Option(help: "The Redis Cluster: redis+cluster://host:port,host:port/ (or rediss+cluster://).")
    var to: String

    @Flag(help: "Count what would be copied; write nothing.")
    var dryRun = false

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "echo.migrate-keys")
        logger.logLevel = .warning
        let source = try RedisTopology(url: from)
        let target = try RedisTopology(url: to)
        guard case .single(let sourceEndpoint) = source else {
            throw ValidationError("--from must name one Redis (redis://, rediss:// or unix://), not \(source)")
        }
        guard case .cluster(let seeds) = target else {
            throw ValidationError("--to must name a Redis Cluster (redis+cluster://host:port,host:port/), not \(target)")
        }
        let configuration = try EchoConfiguration(values: ProcessInfo.processInfo.environment)
        let sourceTLS = try RedisTLS.settings(for: sourceEndpoint, configuration: configuration)
        let targetTLS = try RedisTLS.settings(for: seeds[0], configuration: configuration)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let timeout = TimeAmount.milliseconds(Int64(max(configuration.redisTimeoutMilliseconds, 10_000)))
        let sourceClient = RedisClient(endpoint: sourceEndpoint, tls: sourceTLS, eventLoop: loop, timeout: timeout, logger: logger)
        // A seed asked first: a target that is not a cluster is refused at once, not after the
        // router has tried for the whole wait.
        let seed = RedisClient(endpoint: seeds[0], tls: targetTLS, eventLoop: loop, timeout: timeout, logger: logger)
        let cluster = RedisCluster(seeds: seeds, tls: targetTLS, eventLoop: loop, timeout: timeout, logger: logger)
        sourceClient.start()
        seed.start()

        print("echo migrate-keys: \(source) -> \(target), tagged layout\(dryRun ? " (dry run: nothing written)" : "")")
        let outcome: Result<KeyMigrator.Report, any Error>
        do {
            try await Self.waitUntil("the source \(source)", on: loop, connected: { sourceClient.isConnected }, lastError: { sourceClient.lastError })
            try await Self.waitUntil("the cluster's seed \(seeds[0])", on: loop, connected: { seed.isConnected }, lastError: { seed.lastError })
            let info = try await seed.send(RESPCommand("INFO", "cluster")).get().string ?? ""
            guard info.contains("cluster_enabled:1") else {
                throw KeyMigrator.Refusal(description: "the target \(seeds[0]) is not a Redis Cluster node (cluster_enabled:0)")
            }
            cluster.start()
            try await Self.waitUntil("the cluster \(target)", on: loop, connected: { cluster.isConnected }, lastError: { cluster.lastError })
            outcome = .success(try await KeyMigrator(source: sourceClient, target: cluster).run(dryRun: dryRun))
        } catch {
            outcome = .failure(error)
        }
        sourceClient.shutdown()
        seed.shutdown()
        cluster.shutdown()
        try? await group.shutdownGracefully()
        switch outcome {
        case .success(let report):
            for line in report.lines(dryRun: dryRun) { print(line) }
        case .failure(let error):
            FileHandle.standardError.write(Data("echo migrate-keys: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Waits up to 10 s for a connection (a cluster: its slot map and every primary). The clients'
    /// state lives on their event loop: it is read there.
    static func waitUntil(
        _ what: String, on loop: EventLoop, connected: @escaping @Sendable () -> Bool, lastError: @escaping @Sendable () -> String?
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while try await !loop.submit(connected).get() {
            guard ContinuousClock.now < deadline else {
                let why = try await loop.submit(lastError).get()
                throw KeyMigrator.Refusal(description: "cannot reach \(what): \(why ?? "no answer")")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
