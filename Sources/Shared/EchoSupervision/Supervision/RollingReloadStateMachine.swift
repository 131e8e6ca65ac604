
/// The plan of a rolling reload (`SIGHUP`), one slot at a time, as a pure state machine.
///
/// Per slot: the old worker is told to stop accepting; once it has closed its copy of the slot's
/// socket, the replacement is started on that socket; once the replacement is ready, the old worker
/// is drained (``CloseCode/serviceRestart``) and the next slot begins. So two processes never accept on one
/// socket at once (NIO debug builds assert on that), and the socket, held by the supervisor
/// throughout, queues the connections that arrive in between: none is refused.
///
/// The machine does no I/O; ``SupervisorStateMachine`` alone feeds it and turns its actions into its own.
public struct RollingReloadStateMachine: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Send the slot's old worker `.stopAccepting`.
        case stopAccepting(slot: Int)
        /// The old worker did not answer in time: kill it (its exit then counts as stopped).
        case killOld(slot: Int)
        /// Start the new worker on the slot's socket.
        case spawnReplacement(slot: Int)
        /// Drain the slot's old worker with ``CloseCode/serviceRestart``.
        case drainOld(slot: Int)
        /// Every slot runs a new worker.
        case finished
        /// The reload stopped at `slot`; slots after it keep their old workers.
        case failed(slot: Int, reason: String)
    }

    enum State: Sendable, Equatable {
        case notStarted
        case waitingForStop(slot: Int, deadline: ContinuousClock.Instant, killed: Bool)
        case waitingForReady(slot: Int, deadline: ContinuousClock.Instant)
        case finished
        case failed
    }

    public let slots: [Int]
    public let stopTimeout: Duration
    public let readyTimeout: Duration
    private(set) var state: State = .notStarted
    private var index = 0

    public init(slots: [Int], stopTimeout: Duration = .seconds(5), readyTimeout: Duration = .seconds(30)) {
        self.slots = slots
        self.stopTimeout = stopTimeout
        self.readyTimeout = readyTimeout
    }

    /// The slot being replaced right now, if any.
    public var currentSlot: Int? {
        switch state {
        case .waitingForStop(let slot, _, _), .waitingForReady(let slot, _): return slot
        case .notStarted, .finished, .failed: return nil
        }
    }

    /// When ``tick(now:)`` has something to do: the current step's timeout.
    public var deadline: ContinuousClock.Instant? {
        switch state {
        case .waitingForStop(_, let deadline, let killed): return killed ? nil : deadline
        case .waitingForReady(_, let deadline): return deadline
        case .notStarted, .finished, .failed: return nil
        }
    }

    public var isOver: Bool {
        switch state {
        case .finished, .failed: return true
        case .notStarted, .waitingForStop, .waitingForReady: return false
        }
    }

    public mutating func start(now: ContinuousClock.Instant) -> [Action] {
        guard state == .notStarted else { return [] }
        return begin(at: 0, now: now)
    }

    /// The old worker of `slot` answered `.stoppedAccepting`.
    public mutating func oldStoppedAccepting(slot: Int, now: ContinuousClock.Instant) -> [Action] {
        guard case .waitingForStop(let current, _, _) = state, current == slot else { return [] }
        state = .waitingForReady(slot: slot, deadline: now + readyTimeout)
        return [.spawnReplacement(slot: slot)]
    }

    /// The old worker of `slot` exited; while we wait for it to stop accepting, that is as good.
    public mutating func oldExited(slot: Int, now: ContinuousClock.Instant) -> [Action] {
        oldStoppedAccepting(slot: slot, now: now)
    }

    /// The replacement on `slot` reported ready.
    public mutating func replacementReady(slot: Int, now: ContinuousClock.Instant) -> [Action] {
        guard case .waitingForReady(let current, _) = state, current == slot else { return [] }
        return [.drainOld(slot: slot)] + begin(at: index + 1, now: now)
    }

    /// The replacement on `slot` died before it was ready.
    public mutating func replacementFailed(slot: Int, reason: String) -> [Action] {
        guard case .waitingForReady(let current, _) = state, current == slot else { return [] }
        state = .failed
        return [.failed(slot: slot, reason: reason)]
    }

    /// Timers: an old worker that never answers is killed; a replacement that never gets ready fails the reload.
    public mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        switch state {
        case .waitingForStop(let slot, let deadline, let killed) where !killed && now >= deadline:
            state = .waitingForStop(slot: slot, deadline: deadline, killed: true)
            return [.killOld(slot: slot)]
        case .waitingForReady(let slot, let deadline) where now >= deadline:
            state = .failed
            return [.failed(slot: slot, reason: "the new worker was not ready within \(readyTimeout)")]
        default:
            return []
        }
    }

    private mutating func begin(at next: Int, now: ContinuousClock.Instant) -> [Action] {
        index = next
        guard index < slots.count else {
            state = .finished
            return [.finished]
        }
        let slot = slots[index]
        state = .waitingForStop(slot: slot, deadline: now + stopTimeout, killed: false)
        return [.stopAccepting(slot: slot)]
    }
}
