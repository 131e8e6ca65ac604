extension BenchSuiteScenario {
    /// S6: `rooms` rooms of `members`, open loop at each of `rates` in turn (stopping after the
    /// first step that misses the latency limit), once against one Redis and once against a Redis
    /// Cluster of `shards` primaries. Its connections are more than one process may open here
    /// (RLIMIT_NOFILE), so `generators` processes share them, each with its own rooms and its share
    /// of the rate, and all start their warm-up together (`--start-file`) so they measure one window.
    public struct ScalingLoad: Sendable, Equatable {
        public var rooms: Int
        public var members: Int
        public var generators: Int
        /// Offered messages per second into the server, all generators together, lowest first.
        /// The first is the fixed rate at which both layouts' Redis CPU is compared.
        public var rates: [Int]
        public var duration: Int
        public var warmup: Int
        public var messageSize: Int
        /// Primaries of the cluster layout (no replicas: S6 measures cost, not failover).
        public var shards: Int
        /// A step passes when every delivery's p99 is at most this (and nothing was lost or refused).
        public var p99LimitMilliseconds: Double

        public init(
            rooms: Int, members: Int, generators: Int, rates: [Int], duration: Int, warmup: Int, messageSize: Int, shards: Int,
            p99LimitMilliseconds: Double
        ) {
            self.rooms = rooms
            self.members = members
            self.generators = generators
            self.rates = rates
            self.duration = duration
            self.warmup = warmup
            self.messageSize = messageSize
            self.shards = shards
            self.p99LimitMilliseconds = p99LimitMilliseconds
        }

        public var connections: Int { rooms * members }

        /// The arguments of each of the `generators` fanout processes at `rate` (the suite adds the
        /// URL, the PIDs to sample and `--json`).
        public func arguments(rate: Int, startFile: String) -> [String] {
            let share = Double(rate) / Double(generators)
            let rateText = share == share.rounded() ? String(Int(share)) : String(share)
            return [
                "fanout", "--connections", "\(connections / generators)", "--rooms", "\(rooms / generators)", "--rate", rateText,
                "--message-size", "\(messageSize)", "--duration", "\(duration)", "--warmup", "\(warmup)", "--start-file", startFile,
            ]
        }
    }
}
