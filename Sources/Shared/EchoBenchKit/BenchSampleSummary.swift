
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
