
/// The median and spread of one figure over repeated runs (BENCHMARKS.md shows these).
public struct BenchSampleSummary: Sendable, Equatable, Codable {
    public var count: Int
    public var median: Double
    public var minimum: Double
    public var maximum: Double

    public init?(_ values: [Double]) {
        let sorted = values.filter { $0.isFinite }.sorted()
        guard !sorted.isEmpty else { return nil }
        count = sorted.count
        minimum = sorted[0]
        maximum = sorted[sorted.count - 1]
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// (max − min) / median, as a fraction; 0 when the median is 0 and all runs agree.
    public var relativeSpread: Double {
        guard median != 0 else { return maximum == minimum ? 0 : .infinity }
        return (maximum - minimum) / abs(median)
    }
}

/// Percentiles of a set of latencies, in microseconds. echo-bench fills it from its HDR histogram;
/// ``init(sortedMicroseconds:)`` exists for small samples and tests.
public struct BenchLatencySummary: Sendable, Equatable, Codable {
    public var count: Int
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var mean: Double

    public init(count: Int, p50: Double, p90: Double, p99: Double, p999: Double, max: Double, mean: Double) {
        self.count = count
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }

    /// Nearest-rank percentiles (the smallest value with at least p% of the sample at or below it),
    /// the same definition HDR histograms use.
    public init(sortedMicroseconds values: [Double]) {
        count = values.count
        func rank(_ percentile: Double) -> Double {
            guard !values.isEmpty else { return 0 }
            // The epsilon keeps 99.9 % of 1000 at rank 999 despite binary floating point.
            let index = Int((percentile * Double(values.count) / 100 - 1e-9).rounded(.up)) - 1
            return values[Swift.max(0, Swift.min(values.count - 1, index))]
        }
        p50 = rank(50)
        p90 = rank(90)
        p99 = rank(99)
        p999 = rank(99.9)
        max = values.last ?? 0
        mean = values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }
}
