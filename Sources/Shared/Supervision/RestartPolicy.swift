/// When a dead worker is started again, and when restarting is pointless.
///
/// A worker that served for a while and then died (a crash, `kill -9`) is replaced at once: its
/// slot's socket keeps queueing connections meanwhile, so the faster the refill, the fewer clients
/// wait. A worker that dies young is retried with a doubling delay, and after
/// ``maximumCrashes`` young deaths in a row the supervisor gives up, so that systemd's restart
/// policy (with its own rate limit) takes over instead of a hot spawn loop.
public struct RestartPolicy: Sendable, Equatable {
    /// Delay before the second restart of a crash streak; it doubles after that.
    public var firstDelay: Duration = .milliseconds(100)
    public var maximumDelay: Duration = .seconds(5)
    /// Young deaths in a row after which the supervisor gives up.
    public var maximumCrashes = 5
    /// A worker that was ready and lived this long ends a crash streak.
    public var stableUptime: Duration = .seconds(3)

    /// `EX_CONFIG`: the worker found its configuration unusable; starting it again cannot help.
    public static let configurationErrorExitCode: Int32 = 78

    public init() {}
}

/// How a child process ended, as `waitpid` reports it.
public enum ProcessExit: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a `waitpid` status word (the `WIFEXITED`/`WTERMSIG` macros, which Swift cannot import).
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// One slot's restart history: feed it each unplanned death, it says what to do.
public struct SlotRestartTracker: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case restart(after: Duration)
        /// Stop the whole supervisor with `exitCode`; `reason` is for the operator.
        case giveUp(reason: String, exitCode: Int32)
    }

    public let policy: RestartPolicy
    /// Young deaths since the slot last had a stable worker.
    public private(set) var consecutiveCrashes = 0

    public init(policy: RestartPolicy = RestartPolicy()) {
        self.policy = policy
    }

    /// An unplanned death of the slot's worker after `uptime`; `becameReady` tells whether it ever
    /// reported ready.
    public mutating func workerDied(_ exit: ProcessExit, uptime: Duration, becameReady: Bool) -> Decision {
        if exit == .exited(RestartPolicy.configurationErrorExitCode) {
            return .giveUp(
                reason: "the worker reported a fatal configuration error (exit code 78); fix the configuration and start again",
                exitCode: RestartPolicy.configurationErrorExitCode
            )
        }
        if becameReady && uptime >= policy.stableUptime {
            consecutiveCrashes = 1
            return .restart(after: .zero)
        }
        consecutiveCrashes += 1
        if consecutiveCrashes >= policy.maximumCrashes {
            return .giveUp(
                reason: "the worker died \(consecutiveCrashes) times in a row within \(policy.stableUptime) of starting (last: \(exit)); giving up",
                exitCode: 1
            )
        }
        if consecutiveCrashes == 1 { return .restart(after: .zero) }
        var delay = policy.firstDelay
        for _ in 2..<consecutiveCrashes { delay = min(delay * 2, policy.maximumDelay) }
        return .restart(after: min(delay, policy.maximumDelay))
    }

    /// The slot's worker reported ready and has been up for `uptime`: a long enough life ends the streak.
    public mutating func workerIsHealthy(uptime: Duration) {
        if uptime >= policy.stableUptime { consecutiveCrashes = 0 }
    }
}
