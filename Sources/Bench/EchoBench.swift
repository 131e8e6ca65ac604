import ArgumentParser
import EchoBenchKit
import Foundation
import Logging

/// `echo-bench`: Echo's load generator. See docs/benchmarks.md for the scenarios built on it.
@main
struct EchoBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-bench",
        abstract: "Load generator for Echo (WebSocket, loopback only).",
        discussion: "Every run ends by itself. Results go to stdout (a table, or JSON with --json); progress to stderr.",
        subcommands: [FanoutCommand.self, IdleCommand.self, JoinStormCommand.self, SummarizeCommand.self, SuiteCommand.self]
    )

    static func bootstrapLogging() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["DEBUG"] != nil ? .debug : .info
            return handler
        }
    }

    /// Prints the result: a table, or one JSON document (stable key order, for diffs and scripts).
    static func emit(_ report: BenchReport, json: Bool) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(report)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report.table)
        }
    }
}

/// Stops a run that found nothing to measure, with a non-zero exit status.
struct BenchFailure: Error, CustomStringConvertible {
    var description: String
}
