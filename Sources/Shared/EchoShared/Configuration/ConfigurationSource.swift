import Foundation

/// Raw configuration values read as typed values: the number and list rules behind every
/// ``Setting``. An empty value counts as unset, and a bad one throws a ``ConfigurationError`` that
/// names its key.
public struct ConfigurationSource: Sendable {
    public var values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    public func string(_ key: String) -> String? {
        guard let raw = values[key], !raw.isEmpty else { return nil }
        return raw
    }

    public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let raw = string(key) else { return nil }
        guard let value = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw ConfigurationError(key: key, value: raw, expected: "a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public func seconds(_ key: String, in range: ClosedRange<Double>) throws -> Duration? {
        guard let raw = string(key) else { return nil }
        guard let value = Double(raw.trimmingCharacters(in: .whitespaces)), range.contains(value) else {
            throw ConfigurationError(key: key, value: raw, expected: "seconds in \(range.lowerBound)...\(range.upperBound)")
        }
        return Duration(seconds: value)
    }

    /// A comma-separated list; present but empty means an empty list.
    public func list(_ key: String) -> [String]? {
        guard let raw = values[key] else { return nil }
        return raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

extension Duration {
    /// Whole milliseconds of `seconds`, as configuration values are given.
    public init(seconds: Double) {
        self = .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
