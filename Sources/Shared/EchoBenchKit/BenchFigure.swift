
/// One number BENCHMARKS.md reports per scenario, read out of a run's ``BenchReport``.
public struct BenchFigure: Sendable {
    public var name: String
    public var label: String
    /// How to print a value: digits after the point and a unit suffix.
    public var decimals: Int
    public var unit: String
    public var extract: @Sendable (BenchReport) -> Double?

    public init(name: String, label: String, decimals: Int, unit: String, extract: @escaping @Sendable (BenchReport) -> Double?) {
        self.name = name
        self.label = label
        self.decimals = decimals
        self.unit = unit
        self.extract = extract
    }

    /// Every figure, in the order tables show them. A figure no report of the set has is skipped.
    public static let all: [BenchFigure] = [
        BenchFigure(name: "deliveriesPerSecond", label: "deliveries/s", decimals: 0, unit: "") { $0.mode == "fanout" ? $0.deliveriesPerSecond : nil },
        BenchFigure(name: "sentPerSecond", label: "messages in/s", decimals: 0, unit: "") { $0.mode == "fanout" ? $0.sentPerSecond : nil },
        BenchFigure(name: "latencyP50", label: "latency p50", decimals: 2, unit: " ms") { milliseconds($0, "fanout", \.p50) },
        BenchFigure(name: "latencyP99", label: "latency p99", decimals: 2, unit: " ms") { milliseconds($0, "fanout", \.p99) },
        BenchFigure(name: "latencyP999", label: "latency p99.9", decimals: 2, unit: " ms") { milliseconds($0, "fanout", \.p999) },
        BenchFigure(name: "latencyMax", label: "latency max", decimals: 2, unit: " ms") { milliseconds($0, "fanout", \.max) },
        BenchFigure(name: "lost", label: "lost", decimals: 0, unit: "") { $0.mode == "fanout" ? Double($0.counts.lost) : nil },
        BenchFigure(name: "resyncs", label: "recovered:false notices", decimals: 0, unit: "") { $0.mode == "fanout" ? Double($0.counts.resyncs) : nil },
        BenchFigure(name: "silentGaps", label: "silent gaps", decimals: 0, unit: "") { $0.mode == "fanout" ? Double($0.counts.silentGaps) : nil },
        BenchFigure(name: "duplicated", label: "duplicated", decimals: 0, unit: "") { $0.mode == "fanout" ? Double($0.counts.duplicated) : nil },
        BenchFigure(name: "outOfOrder", label: "out of order", decimals: 0, unit: "") { $0.mode == "fanout" ? Double($0.counts.outOfOrder) : nil },
        BenchFigure(name: "sendErrors", label: "send errors", decimals: 0, unit: "") { $0.mode == "fanout" ? Double($0.counts.errors) : nil },
        BenchFigure(name: "joinsPerSecond", label: "joins/s", decimals: 0, unit: "") { $0.joinsPerSecond },
        BenchFigure(name: "joinP50", label: "join latency p50", decimals: 2, unit: " ms") { milliseconds($0, "joinstorm", \.p50) },
        BenchFigure(name: "joinP99", label: "join latency p99", decimals: 2, unit: " ms") { milliseconds($0, "joinstorm", \.p99) },
        BenchFigure(name: "tlsFullHandshakes", label: "TLS handshakes, full", decimals: 0, unit: "") { $0.tlsHandshakes.map { Double($0.full) } },
        BenchFigure(name: "tlsResumedHandshakes", label: "TLS handshakes, resumed", decimals: 0, unit: "") { $0.tlsHandshakes.map { Double($0.resumed) } },
        BenchFigure(name: "connectionsJoined", label: "connections joined", decimals: 0, unit: "") { Double($0.connectionsJoined) },
        BenchFigure(name: "connectionsFailed", label: "connections failed", decimals: 0, unit: "") { Double($0.connectionsFailed) },
        BenchFigure(name: "connectionsDropped", label: "connections dropped", decimals: 0, unit: "") { Double($0.connectionsDropped) },
        BenchFigure(name: "rssPerConnection", label: "server RSS per connection", decimals: 0, unit: " B") { $0.memory?.bytesPerConnection },
        BenchFigure(name: "rssHolding", label: "server RSS holding", decimals: 1, unit: " MiB") { $0.memory.map { Double($0.holdingBytes) / 1_048_576 } },
        BenchFigure(name: "serverCores", label: "server CPU (cores)", decimals: 2, unit: "") { $0.cpu?.serverCores },
        BenchFigure(name: "redisCores", label: "Redis CPU (cores)", decimals: 2, unit: "") { r in r.cpu.flatMap { c in c.redisSeconds.map { c.windowSeconds > 0 ? $0 / c.windowSeconds : 0 } } },
        BenchFigure(name: "generatorCores", label: "generator CPU (cores)", decimals: 2, unit: "") { $0.cpu?.generatorCores },
        BenchFigure(name: "otherCores", label: "other processes CPU (cores)", decimals: 2, unit: "") { $0.cpu?.otherCores },
        BenchFigure(name: "serverCPUSeconds", label: "server CPU seconds", decimals: 2, unit: " s") { $0.cpu?.serverSeconds },
        BenchFigure(name: "redisCPUSeconds", label: "Redis CPU seconds", decimals: 2, unit: " s") { $0.cpu?.redisSeconds },
        BenchFigure(name: "generatorCPUSeconds", label: "generator CPU seconds", decimals: 2, unit: " s") { $0.cpu?.generatorSeconds },
    ]

    public static func named(_ name: String) -> BenchFigure? { all.first { $0.name == name } }

    /// A latency percentile of a `mode` run in milliseconds; none when nothing was measured (a run
    /// with no delivery has no latency, not a latency of 0 that would meet every target).
    private static func milliseconds(_ report: BenchReport, _ mode: String, _ percentile: KeyPath<BenchLatencySummary, Double>) -> Double? {
        guard report.mode == mode, let latency = report.latency, latency.count > 0 else { return nil }
        return latency[keyPath: percentile] / 1000
    }

    /// Median and spread of this figure over `reports`, or nil when none has it.
    public func summary(of reports: [BenchReport]) -> BenchSampleSummary? {
        BenchSampleSummary(reports.compactMap(extract))
    }

    public func format(_ value: Double) -> String {
        BenchFigure.fixed(value, decimals) + unit
    }

    /// Fixed-point text without Foundation's locale-dependent formatters; thousands grouped.
    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return value > 0 ? "∞" : "-∞" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int(scaled / scale)
        let fraction = Int(scaled - Double(whole) * scale)
        var digits = String(whole)
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(character)
        }
        digits = grouped
        if decimals > 0 {
            let fractionText = String(fraction)
            digits += "." + String(repeating: "0", count: decimals - fractionText.count) + fractionText
        }
        return (value < 0 && scaled > 0 ? "-" : "") + digits
    }
}

/// The markdown table of one scenario: every figure's median, minimum, maximum and spread.
public enum BenchSummaryTable {
    public static func markdown(_ reports: [BenchReport]) -> String {
        var lines = [
            "| figure | median | min | max | spread |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for figure in BenchFigure.all {
            guard let summary = figure.summary(of: reports) else { continue }
            let spread = summary.relativeSpread.isFinite ? BenchFigure.fixed(summary.relativeSpread * 100, 1) + " %" : "–"
            lines.append("| \(figure.label) | \(figure.format(summary.median)) | \(figure.format(summary.minimum)) | \(figure.format(summary.maximum)) | \(spread) |")
        }
        lines.append("")
        lines.append("Runs: \(reports.count).")
        return lines.joined(separator: "\n")
    }
}
