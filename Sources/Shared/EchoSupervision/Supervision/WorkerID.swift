/// A worker as ``SupervisorStateMachine`` knows it: handed out when the machine asks for a spawn,
/// never reused, so a late event about a worker that is gone can never hit its successor. The
/// supervisor maps it to the process id.
public struct WorkerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: Int

    public init(_ rawValue: Int) {
        self.rawValue = rawValue
    }

    public static func < (lhs: WorkerID, rhs: WorkerID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "#\(rawValue)" }
}
