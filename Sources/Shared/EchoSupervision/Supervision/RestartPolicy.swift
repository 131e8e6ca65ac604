
/// When a dead worker is started again, and when the supervisor gives up.
///
/// The rule (docs/operations.md, "Restarts"):
/// - A fault in one slot never stops the others. Each slot backs off on its own: a worker that
///   served for ``stableUptime`` and then died is replaced at once (its socket keeps queueing
///   connections meanwhile, so the faster the refill, the fewer clients wait); one that dies young
///   is restarted after a delay that doubles from ``firstDelay`` up to ``maximumDelay``, for as
///   long as it takes. The slot keeps its listening socket throughout.
/// - The supervisor gives up (exits, so systemd's `Restart=` policy applies) only when no worker can
///   start at all: a worker exited with 78 (`EX_CONFIG`, a configuration it cannot use), or every
///   slot has failed ``maximumStartFailures`` starts in a row and no worker of this supervisor has
///   ever become ready (a missing or broken binary, a configuration only the worker rejects).
/// - A worker killed by a signal is killed from outside (an operator, the OOM killer, a test) or
///   crashed: it backs off like any young death but never counts towards giving up. A worker that
///   was ready and was killed from outside (a signal that is not a crash's) has shown it can start,
///   so its slot's delay stays under ``maximumDelayAfterKill``: connections the kernel queues on
///   that slot's socket wait for the next worker, and a long back-off would time them out.
public struct RestartPolicy: Sendable, Equatable {
    /// Delay before the second restart of a streak of young deaths; it doubles after that.
    public var firstDelay: Duration = .milliseconds(100)
    public var maximumDelay: Duration = .seconds(30)
    /// The longest delay after a ready worker was killed from outside (see the rule above).
    public var maximumDelayAfterKill: Duration = .seconds(1)
    /// Failed starts in a row, on every slot, after which a supervisor that never served gives up.
    public var maximumStartFailures = 5
    /// A worker that was ready and lived this long ends a streak of young deaths.
    public var stableUptime: Duration = .seconds(10)

    /// `EX_CONFIG`: the worker found its configuration unusable; starting it again cannot help.
    public static let configurationErrorExitCode: Int32 = 78

    public init() {}

    /// The reason to stop the whole supervisor, or `nil` to keep going: every slot failed to start
    /// ``maximumStartFailures`` times in a row and none has ever had a ready worker.
    public func giveUpReason(slots: [SlotRestartTracker]) -> String? {
        guard !slots.isEmpty, !slots.contains(where: \.everReady),
              slots.allSatisfy({ $0.startFailures >= maximumStartFailures })
        else { return nil }
        let last = slots.enumerated().map { index, slot in "slot \(index): \(slot.lastExit.map { "\($0)" } ?? "no exit")" }
        return "no worker could start (\(maximumStartFailures) tries per slot; \(last.joined(separator: ", ")))"
    }
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

    /// Signals a process gets from its own fault (a trap, a bad access, `abort`), not from outside.
    public static let crashSignals: Set<Int32> = [4, 5, 6, 7, 8, 11, 31]  // ILL TRAP ABRT BUS FPE SEGV SYS

    /// Killed by a signal another process sent (kill, the OOM killer), not by its own fault.
    public var isKillFromOutside: Bool {
        if case .signaled(let signal) = self { return !Self.crashSignals.contains(signal) }
        return false
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit code \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// One slot's restart history: feed it each unplanned death, it says when to start again.
public struct SlotRestartTracker: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case restart(after: Duration)
        /// Stop the whole supervisor with `exitCode`; `reason` is for the operator.
        case giveUp(reason: String, exitCode: Int32)
    }

    public let policy: RestartPolicy
    /// Young deaths since the slot last had a stable worker: they set the back-off.
    public private(set) var consecutiveCrashes = 0
    /// Starts in a row that ended before the worker was ready, not counting signals.
    public private(set) var startFailures = 0
    /// Whether a worker of this slot has ever reported ready.
    public private(set) var everReady = false
    /// Unplanned deaths of the slot's workers, all told.
    public private(set) var restarts = 0
    public private(set) var lastExit: ProcessExit?

    public init(policy: RestartPolicy = RestartPolicy()) {
        self.policy = policy
    }

    /// An unplanned death of the slot's worker after `uptime` (since it was spawned); `becameReady`
    /// tells whether it ever reported ready. A spawn that failed is a death with `.exited(127)`.
    public mutating func workerDied(_ exit: ProcessExit, uptime: Duration, becameReady: Bool) -> Decision {
        restarts += 1
        lastExit = exit
        if exit == .exited(RestartPolicy.configurationErrorExitCode) {
            return .giveUp(
                reason: "the worker reported a fatal configuration error (exit code 78); fix the configuration and start again",
                exitCode: RestartPolicy.configurationErrorExitCode
            )
        }
        if becameReady {
            everReady = true
            startFailures = 0
        } else if case .exited = exit {
            startFailures += 1
        }
        if becameReady && uptime >= policy.stableUptime {
            consecutiveCrashes = 1
            return .restart(after: .zero)
        }
        consecutiveCrashes += 1
        let delay = delay(forCrash: consecutiveCrashes)
        if becameReady && exit.isKillFromOutside { return .restart(after: min(delay, policy.maximumDelayAfterKill)) }
        return .restart(after: delay)
    }

    /// The slot's worker reported ready.
    public mutating func workerBecameReady() {
        everReady = true
        startFailures = 0
    }

    /// The slot's worker is ready and has been up for `uptime`: a long enough life ends the streak.
    public mutating func workerIsHealthy(uptime: Duration) {
        everReady = true
        if uptime >= policy.stableUptime { consecutiveCrashes = 0 }
    }

    /// 0 for the first young death, then ``RestartPolicy/firstDelay`` doubling up to the maximum.
    private func delay(forCrash crash: Int) -> Duration {
        guard crash > 1 else { return .zero }
        var delay = policy.firstDelay
        for _ in 2..<crash {
            delay = delay * 2
            if delay >= policy.maximumDelay { return policy.maximumDelay }
        }
        return min(delay, policy.maximumDelay)
    }
}
