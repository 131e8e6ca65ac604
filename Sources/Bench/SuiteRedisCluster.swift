import EchoBenchKit
import Foundation
import Logging

/// S6's Redis Cluster: `shards` primaries on free loopback ports, no replicas, each a
/// `redis-server --cluster-enabled yes` the suite starts (and ``SuiteProcessRegistry`` stops however
/// the suite ends), joined by `redis-cli --cluster create`, ready once every node says
/// `cluster_state:ok`.
final class SuiteRedisCluster {
    let nodes: [SuiteProcess]
    let ports: [Int]

    /// What Echo is given: every primary as a seed.
    var url: String { "redis+cluster://" + ports.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/" }
    var pids: [Int] { nodes.map(\.pid) }

    private init(nodes: [SuiteProcess], ports: [Int]) {
        self.nodes = nodes
        self.ports = ports
    }

    /// Starts the nodes, creates the cluster and waits until it serves every slot. On failure
    /// it stops what it started and throws.
    static func start(shards: Int, redisServer: String, redisCLI: String, directory: String, logs: String, logger: Logger) async throws -> SuiteRedisCluster {
        var nodes: [SuiteProcess] = []
        var ports: [Int] = []
        do {
            for index in 1...shards {
                // The cluster bus listens on port + 10000: both must be free.
                let port = try SuiteLoopback.freePort(alsoFree: 10000)
                let node = try SuiteProcess(
                    name: "redis-cluster-\(index)", executable: redisServer,
                    arguments: [
                        "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes",
                        "--cluster-enabled", "yes", "--cluster-config-file", "\(directory)/nodes-\(port).conf",
                        "--cluster-node-timeout", "5000", "--dir", directory, "--logfile", "\(logs)/redis-cluster-\(index).log",
                    ],
                    output: "\(logs)/redis-cluster-\(index).out")
                nodes.append(node)
                ports.append(port)
                logger.info("redis-server started", metadata: ["pid": "\(node.pid)", "port": "\(port)", "cluster": "node \(index)/\(shards)"])
            }
            for (node, port) in zip(nodes, ports) {
                try await waitUntil(seconds: 10, "redis-server on \(port) did not answer PING (see \(logs))") {
                    guard node.isRunning else { throw BenchFailure(description: "redis-server on \(port) exited (see \(logs))") }
                    return SuiteLoopback.redisAnswersPing(port: port)
                }
            }
            let createLog = "\(logs)/redis-cluster-create.log"
            let create = try SuiteProcess(
                name: "redis-cli --cluster create", executable: redisCLI,
                arguments: ["--cluster", "create"] + ports.map { "127.0.0.1:\($0)" } + ["--cluster-replicas", "0", "--cluster-yes"],
                output: createLog)
            guard try await create.waitForExit(limit: 60) == 0 else {
                throw BenchFailure(description: "redis-cli --cluster create failed (see \(createLog))")
            }
            try await waitUntil(seconds: 30, "the cluster did not reach cluster_state:ok on every node") {
                ports.allSatisfy { SuiteLoopback.redisCommand(port: $0, ["CLUSTER", "INFO"])?.contains("cluster_state:ok") == true }
            }
            logger.info("redis cluster ready", metadata: ["shards": "\(shards)", "ports": "\(ports.map(String.init).joined(separator: ","))"])
            return SuiteRedisCluster(nodes: nodes, ports: ports)
        } catch {
            for node in nodes.reversed() { node.stop() }
            throw error
        }
    }

    func stop() {
        for node in nodes.reversed() { node.stop() }
    }

    private static func waitUntil(seconds: Double, _ failure: String, _ condition: () throws -> Bool) async throws {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            if try condition() { return }
            try await SuiteInterrupt.sleep(seconds: 0.1)
        }
        throw BenchFailure(description: failure)
    }
}
