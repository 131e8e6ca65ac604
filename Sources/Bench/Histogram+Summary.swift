import EchoBenchKit
import Histogram

extension Histogram where Count == UInt64 {
    /// The percentiles BENCHMARKS.md shows, in the histogram's unit (microseconds here).
    var summary: BenchLatencySummary {
        BenchLatencySummary(
            count: Int(totalCount),
            p50: Double(valueAtPercentile(50)),
            p90: Double(valueAtPercentile(90)),
            p99: Double(valueAtPercentile(99)),
            p999: Double(valueAtPercentile(99.9)),
            max: Double(max),
            mean: mean)
    }

    static func merged(_ parts: [Histogram<UInt64>?]) -> Histogram<UInt64> {
        var total = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: LoopRecorder.highestLatency, numberOfSignificantValueDigits: .three)
        for part in parts { if let part { total.add(part) } }
        return total
    }
}
