/// S6 on one Redis layout: its rate steps, lowest first, up to and including the first that
/// missed the latency limit.
public struct BenchScalingRun: Sendable, Equatable, Codable {
    public enum Layout: String, Sendable, Codable, CaseIterable {
        /// One redis-server.
        case single
        /// A Redis Cluster of primaries only, Echo on `redis+cluster://`.
        case cluster
    }

    public var layout: Layout
    /// Redis processes measured: 1, or the cluster's primaries.
    public var shards: Int
    public var p99LimitMilliseconds: Double
    public var steps: [BenchScalingStep]
    /// Why this layout has fewer steps than planned or none (the cluster did not start, echo did
    /// not serve on it, a generator failed), in words for the report.
    public var note: String?

    public init(layout: Layout, shards: Int, p99LimitMilliseconds: Double, steps: [BenchScalingStep] = [], note: String? = nil) {
        self.layout = layout
        self.shards = shards
        self.p99LimitMilliseconds = p99LimitMilliseconds
        self.steps = steps
        self.note = note
    }

    /// The fixed-rate step both layouts share: the first.
    public var base: BenchScalingStep? { steps.first }

    public func passes(_ step: BenchScalingStep) -> Bool { step.passes(p99LimitMilliseconds: p99LimitMilliseconds) }

    /// The highest offered rate of the passing steps before the first failing one; nil when the
    /// first step already failed.
    public var highestPassingRate: Int? { steps.prefix { passes($0) }.last?.offeredRate }

    /// Whether stepping stopped at a failing step (false: every planned rate passed, the ceiling
    /// is higher than the last step).
    public var stoppedAtFailure: Bool { steps.contains { !passes($0) } }
}
