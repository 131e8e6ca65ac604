import Foundation

/// The settings as `--help` and the documentation show them, generated from the setting tables so
/// that neither can drift from what the code reads.
public enum SettingsDocumentation {
    /// Between these markers, README.md and docs/operations.md hold ``markdownTable(_:)``'s output.
    public static let beginMarker = "<!-- settings:begin -->"
    public static let endMarker = "<!-- settings:end -->"

    /// One row per setting: environment variable, flag, default, when a change applies, meaning.
    public static func markdownTable(_ settings: [any SettingDescription]) -> String {
        var lines = [
            "| variable | flag | default | changes apply | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for setting in settings {
            let flag = setting.flag.usage.map { "`\($0)`" } ?? ""
            let applies = switch setting.appliesOn {
            case .reload: "on reload"
            case .restart: "on restart"
            case .handOff: "set by `echo`"
            }
            lines.append("| `\(setting.name)` | \(cell(flag)) | \(cell(setting.defaultText)) | \(applies) | \(cell(setting.help)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` with `body` between the markers replaced by `table`; `nil` if the markers are missing.
    public static func replacingTable(in text: String, with table: String) -> String? {
        guard let begin = text.range(of: beginMarker), let end = text.range(of: endMarker, range: begin.upperBound..<text.endIndex) else {
            return nil
        }
        return String(text[..<begin.upperBound]) + "\n" + table + String(text[end.lowerBound...])
    }

    /// The settings section of `--help`: each flag with its variable, default and meaning.
    public static func helpText(_ settings: [any SettingDescription]) -> String {
        var lines = ["SETTINGS (a flag beats its environment variable, which beats the default):"]
        for setting in settings {
            let flag = setting.flag.usage ?? "(environment only)"
            // argument-parser wraps the discussion without indenting, so each setting is one paragraph.
            lines.append("\(flag), \(setting.name) (default \(setting.defaultText)): \(setting.help.replacingOccurrences(of: "`", with: ""))")
        }
        return lines.joined(separator: "\n")
    }

    /// A `|` would end the cell, even inside backticks.
    private static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
    }
}
