import Foundation

/// A systemd-style environment file (`KEY=value` lines, `#` comments, optional quotes), the format
/// of `systemd/echo.env`. The supervisor reads it again on every reload, because systemd's own
/// `EnvironmentFile=` is read only when the service starts.
public enum EnvironmentFile {
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        public var line: Int
        public var text: String
        public var description: String { "line \(line): expected KEY=value, got \(text)" }
    }

    public static func parse(_ contents: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("export ") { line = String(line.dropFirst("export ".count)) }
            guard let equals = line.firstIndex(of: "=") else {
                throw ParseError(line: number + 1, text: line)
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ParseError(line: number + 1, text: line)
            }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        return values
    }

    public static func read(path: String) throws -> [String: String] {
        try parse(String(contentsOfFile: path, encoding: .utf8))
    }
}
