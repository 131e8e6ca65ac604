import Foundation

/// How many worker slots `echo` runs: a number, or `auto` for one per core (the default).
public enum WorkerCount: Sendable, Equatable, CustomStringConvertible {
    case auto
    case fixed(Int)

    /// The most slots one supervisor opens; past this, more hosts scale better than more processes.
    public static let maximum = 256

    /// Parses `auto` or a whole number in `1...maximum`; `nil` for anything else.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "auto" {
            self = .auto
        } else if let n = Int(trimmed), (1...Self.maximum).contains(n) {
            self = .fixed(n)
        } else {
            return nil
        }
    }

    /// The number of slots on a host with `cores` cores.
    public func resolved(cores: Int) -> Int {
        switch self {
        case .auto: return min(max(cores, 1), Self.maximum)
        case .fixed(let n): return n
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .fixed(let n): return String(n)
        }
    }
}
