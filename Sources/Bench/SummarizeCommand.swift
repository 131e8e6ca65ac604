import ArgumentParser
import EchoBenchKit
import Foundation

/// `echo-bench summarize`: medians and spread of repeated runs (the JSON files `--json` wrote),
/// as the markdown table BENCHMARKS.md shows, or one figure's median for scripts.
struct SummarizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize",
        abstract: "Median and spread of runs saved with --json.")

    @Option(help: "Print only this figure's median (a plain number), e.g. deliveriesPerSecond.")
    var figure: String?

    @Argument(help: "JSON reports of the same scenario.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one report file") }
        if let figure, BenchFigure.named(figure) == nil {
            throw ValidationError("unknown figure \(figure); known: \(BenchFigure.all.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        let decoder = JSONDecoder()
        let reports = try files.map { path in
            try decoder.decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        if let name = figure, let figure = BenchFigure.named(name) {
            guard let summary = figure.summary(of: reports) else { throw BenchFailure(description: "no report has \(name)") }
            print(summary.median)
        } else {
            print(BenchSummaryTable.markdown(reports))
        }
    }
}
