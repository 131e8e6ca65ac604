
/// Tells a hung worker from a live one by the time since it was last heard from.
///
/// A worker that misses its heartbeats past the timeout gets `SIGABRT` (a core dump or backtrace
/// says where it hung), and `SIGKILL` if it is still there after the grace period: a stopped or
/// wedged process may never act on `SIGABRT`.
public struct HeartbeatWatch: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        case abort
        case kill
    }

    public private(set) var lastHeard: ContinuousClock.Instant
    public private(set) var abortedAt: ContinuousClock.Instant?
    public private(set) var killed = false

    public init(startedAt: ContinuousClock.Instant) {
        lastHeard = startedAt
    }

    public mutating func heard(at now: ContinuousClock.Instant) {
        lastHeard = now
    }

    /// What to do now, if anything. `timeout` is the start timeout until the worker is ready and
    /// the heartbeat timeout after.
    public mutating func check(now: ContinuousClock.Instant, timeout: Duration, killGrace: Duration) -> Action? {
        if let abortedAt {
            guard !killed, now - abortedAt >= killGrace else { return nil }
            killed = true
            return .kill
        }
        guard now - lastHeard >= timeout else { return nil }
        abortedAt = now
        return .abort
    }

    public var isAborted: Bool { abortedAt != nil }
}
