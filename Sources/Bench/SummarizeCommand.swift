import ArgumentParser
import EchoBenchKit
import Foundation

/// `echo-bench summarize`: medians and spread of repeated runs (the JSON files `--json` wrote), as
/// the markdown table BENCHMARKS.md shows for each scenario.
struct SummarizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summarize",
        abstract: "Median and spread of runs saved with --json.")

    @Argument(help: "JSON reports of the same scenario.")
    var files: [String]

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one report file") }
    }

    func run() throws {
        let decoder = JSONDecoder()
        let reports = try files.map { path in
            try decoder.decode(BenchReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        print(BenchSummaryTable.markdown(reports))
    }
}
