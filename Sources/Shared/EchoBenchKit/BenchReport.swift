
/// The outcome of one echo-bench run: what `--json` prints and what `echo-bench summarize` reads.
/// Optional figures are absent when the mode does not produce them (no latency in `idle`, no RSS
/// without `--server-pid`).
public struct BenchReport: Sendable, Equatable, Codable {
    public var mode: String
    public var targets: [String]
    /// The options the run was started with, as `name: value` text (for the record).
    public var parameters: [String: String]

    public var connectionsRequested: Int
    public var connectionsJoined: Int
    public var connectionsFailed: Int
    /// Connections that closed before the run ended.
    public var connectionsDropped: Int

    /// Length of the measurement window in seconds (after warm-up).
    public var measuredSeconds: Double
    /// Seconds spent after the window waiting for the last deliveries (fanout).
    public var drainSeconds: Double?
    public var counts: BenchDeliveryCounts
    public var sentPerSecond: Double
    public var deliveriesPerSecond: Double
    /// Delivery latency (send → receive) in microseconds, or join latency in `joinstorm`.
    public var latency: BenchLatencySummary?

    public var joinsPerSecond: Double?
    public var errorsByCode: [String: Int]

    public var cpu: BenchCPUUsage?
    public var memory: BenchMemoryUsage?
    /// Runs over `wss://` only.
    public var tlsHandshakes: BenchTLSHandshakes?

    public init(mode: String, targets: [String], parameters: [String: String]) {
        self.mode = mode
        self.targets = targets
        self.parameters = parameters
        connectionsRequested = 0
        connectionsJoined = 0
        connectionsFailed = 0
        connectionsDropped = 0
        measuredSeconds = 0
        counts = BenchDeliveryCounts()
        sentPerSecond = 0
        deliveriesPerSecond = 0
        errorsByCode = [:]
    }
}

/// CPU seconds spent during the measurement window by each party. `generatorCores` is the share of
/// the machine's cores the generator itself took (1.0 = one core busy the whole window).
public struct BenchCPUUsage: Sendable, Equatable, Codable {
    public var windowSeconds: Double
    public var serverSeconds: Double?
    public var serverProcesses: Int?
    public var redisSeconds: Double?
    public var generatorSeconds: Double
    /// CPU seconds the whole machine was busy (all cores, from `/proc/stat`). What the three parties
    /// above do not explain ran elsewhere: a busy shared machine shows up here, not as a mystery.
    public var machineSeconds: Double?
    /// Each Redis process's share of `redisSeconds` (the primaries of a cluster), in the order of
    /// `--redis-pid`; a process that could not be read counts 0.
    public var redisShardSeconds: [Double]?

    public init(
        windowSeconds: Double, serverSeconds: Double?, serverProcesses: Int?, redisSeconds: Double?, generatorSeconds: Double,
        machineSeconds: Double? = nil, redisShardSeconds: [Double]? = nil
    ) {
        self.windowSeconds = windowSeconds
        self.serverSeconds = serverSeconds
        self.serverProcesses = serverProcesses
        self.redisSeconds = redisSeconds
        self.generatorSeconds = generatorSeconds
        self.machineSeconds = machineSeconds
        self.redisShardSeconds = redisShardSeconds
    }

    /// Cores used by processes other than server, Redis and generator during the window.
    public var otherCores: Double? {
        guard let machineSeconds, windowSeconds > 0 else { return nil }
        let ours = (serverSeconds ?? 0) + (redisSeconds ?? 0) + generatorSeconds
        return max(0, machineSeconds - ours) / windowSeconds
    }

    public var generatorCores: Double { windowSeconds > 0 ? generatorSeconds / windowSeconds : 0 }
    public var serverCores: Double? { serverSeconds.map { windowSeconds > 0 ? $0 / windowSeconds : 0 } }
}

/// Server resident memory (all processes under `--server-pid`) before connecting and while holding.
public struct BenchMemoryUsage: Sendable, Equatable, Codable {
    public var baselineBytes: Int
    public var holdingBytes: Int
    public var connections: Int

    public init(baselineBytes: Int, holdingBytes: Int, connections: Int) {
        self.baselineBytes = baselineBytes
        self.holdingBytes = holdingBytes
        self.connections = connections
    }

    /// Growth per held connection: what each idle member costs the server.
    public var bytesPerConnection: Double {
        connections > 0 ? Double(holdingBytes - baselineBytes) / Double(connections) : 0
    }
}
