import ArgumentParser
import EchoShared
import EchoSupervision
import Foundation

/// `echo config-table`: the settings as the Markdown table README.md and docs/operations.md hold
/// between `<!-- settings:begin -->` and `<!-- settings:end -->` (a unit test checks they match).
struct ConfigTableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config-table",
        abstract: "Print every setting as a Markdown table (or rewrite the table in the files given).",
        shouldDisplay: false
    )

    @Option(name: .customLong("update"), parsing: .remaining, help: "Rewrite the table between the markers of these files instead of printing it.")
    var files: [String] = []

    func run() throws {
        let table = SettingsDocumentation.markdownTable(SupervisorConfiguration.documentedSettings)
        guard !files.isEmpty else {
            print(table, terminator: "")
            return
        }
        for path in files {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let updated = SettingsDocumentation.replacingTable(in: text, with: table) else {
                throw ValidationError("\(path) has no \(SettingsDocumentation.beginMarker) ... \(SettingsDocumentation.endMarker) section")
            }
            try updated.write(toFile: path, atomically: true, encoding: .utf8)
        }
    }
}
