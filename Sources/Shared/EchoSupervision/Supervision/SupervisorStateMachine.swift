import EchoShared
import Glibc
import Logging

/// Every decision of the supervisor, as one pure state machine: which worker runs on which slot,
/// when a dead or hung worker is replaced, how a rolling reload advances, what scaling and stopping
/// do, and when the embedded Redis is started again.
///
/// The `Supervisor` class turns what really happens (signals, child exits, control-channel lines,
/// timers) into ``Event``s, calls ``feed(_:at:)``, and carries out the returned ``Action``s as
/// system calls. It decides nothing itself; this type does no I/O and reads no clock, so every
/// race (a crash during a reload, a SIGTERM mid-reload, a kill loop) is a unit test.
///
/// Workers are known by ``WorkerID``s the machine hands out when it asks for a spawn; the
/// supervisor maps them to pids. The rolling reload's slot-by-slot plan is the sub-machine
/// ``RollingReloadStateMachine``, driven only from here.
public struct SupervisorStateMachine: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Silence after which a ready worker counts as hung.
        public var heartbeatTimeout: Duration = .seconds(10)
        /// Time a new worker has to report ready.
        public var startTimeout: Duration = .seconds(30)
        /// Time between `SIGABRT` and `SIGKILL` for a hung worker.
        public var killGrace: Duration = .seconds(2)
        /// Longest graceful stop or drain: past it, a worker still draining is killed.
        public var drainTimeout: Duration = .seconds(10)
        /// Window over which a draining worker spreads its WebSocket closes.
        public var drainWindow: Duration = .seconds(2)
        /// Time an old worker has to stop accepting during a reload before it is killed.
        public var reloadStopTimeout: Duration = .seconds(5)
        /// After a failed reload, the delay before a slot left without an accepting worker starts one.
        public var retainedRestartDelay: Duration = .milliseconds(500)
        /// Delay before another try when the embedded redis-server cannot even be spawned.
        public var redisRetryDelay: Duration = .seconds(1)
        public var restartPolicy = RestartPolicy()
        public var maximumSlots = WorkerCount.maximum

        public init() {}
    }

    public enum Phase: Sendable, Equatable {
        /// Before ``Event/start(slots:embeddedRedis:)``.
        case idle
        /// Workers started; `READY=1` goes out once every slot has a ready worker.
        case starting
        case serving
        /// Waiting for the workers to end; `fast` closes channels instead of draining.
        case stopping(fast: Bool)
        /// Workers are gone; the embedded Redis is stopping.
        case stoppingRedis
        /// ``Action/exit(_:)`` was returned.
        case exited
    }

    /// Which configuration a new worker gets: the one in force, or the one a reload just loaded.
    public enum Generation: Sendable, Equatable {
        case current
        case next
    }

    public enum Timer: Hashable, Sendable {
        /// A backing-off slot starts its next worker.
        case restart(slot: Int)
        /// The worker was not heard from in time (start timeout before ready, heartbeat timeout after).
        case heartbeat(WorkerID)
        /// A hung worker is still there after `SIGABRT`.
        case killAfterAbort(WorkerID)
        /// A draining worker is still there at the drain timeout.
        case drainDeadline(WorkerID)
        /// The rolling reload's current step timed out.
        case reload
        /// Workers still running at the end of a stop.
        case stopDeadline
        case redisRestart
        case redisStopDeadline
    }

    public enum Notification: Sendable, Equatable {
        /// `READY=1` with the status line.
        case ready
        /// `RELOADING=1` with `MONOTONIC_USEC`.
        case reloading
        /// `STOPPING=1`; `extendTimeout` asks systemd for that much more time.
        case stopping(extendTimeout: Duration?)
        /// `STATUS=Failed: reason`.
        case failed(String)
    }

    public enum Event: Sendable, Equatable {
        /// The slot sockets are open (`slots` of them); start a worker on each.
        case start(slots: Int, embeddedRedis: Bool)
        /// ``Action/spawn(_:slot:configuration:)`` failed (binary missing, out of processes).
        case spawnFailed(WorkerID, reason: String)
        case workerExited(WorkerID, ProcessExit)
        /// Control messages from a worker.
        case ready(WorkerID)
        case heartbeat(WorkerID)
        case stoppedAccepting(WorkerID)
        case drained(WorkerID)
        /// `SIGHUP`.
        case reloadRequested
        /// The answer to ``Action/loadConfiguration``.
        case configurationLoaded
        case configurationRefused(reason: String)
        /// `SIGTTIN` / `SIGTTOU`.
        case scaleUp
        case scaleDown
        /// The answer to ``Action/openSlot``: the new socket is the last slot's.
        case slotOpened
        case slotOpenFailed(reason: String)
        /// `SIGTERM`: drain and stop; a second one is a fast stop.
        case stop
        /// `SIGINT`, `SIGQUIT`: close every worker's channel and stop at once.
        case fastStop
        /// The embedded redis-server ended; `output` is its last lines, for the log.
        case redisExited(ProcessExit, output: String)
        /// The answer to ``Action/startRedis`` when the spawn itself failed.
        case redisStartFailed(reason: String)
        case timerFired(Timer)
    }

    public enum Action: Sendable, Equatable {
        /// Start an `echo-worker` on `slot`'s socket; answer ``Event/spawnFailed(_:reason:)`` if it cannot start.
        case spawn(WorkerID, slot: Int, configuration: Generation)
        case send(WorkerID, ControlMessage)
        /// Close the supervisor's end of the worker's channel: a worker that sees EOF exits at once.
        case closeLink(WorkerID)
        case kill(WorkerID, signal: Int32)
        /// Fire ``Event/timerFired(_:)`` at `at`; scheduling a timer again moves it.
        case schedule(Timer, at: ContinuousClock.Instant)
        case cancel(Timer)
        case notify(Notification)
        /// `STATUS=` if the line changed; `force` sends it anyway.
        case updateStatus(force: Bool)
        /// Send every serving worker the host's figures (they include the slots' states).
        case broadcastHostStats
        case writeStateFile(reloadsFinished: Int, reloading: Bool, lastReload: String)
        /// Read the configuration again; answer ``Event/configurationLoaded`` or ``Event/configurationRefused(reason:)``.
        case loadConfiguration
        /// The reload's configuration is now the one new workers get.
        case adoptConfiguration
        /// Open one more slot socket; answer ``Event/slotOpened`` or ``Event/slotOpenFailed(reason:)``.
        case openSlot
        /// Close the last slot's socket (`slot` is its index).
        case closeSlot(Int)
        /// Close every slot socket: a stop has begun.
        case closeSockets
        /// Start the embedded redis-server again; answer ``Event/redisStartFailed(reason:)`` if it cannot.
        case startRedis
        case signalRedis(Int32)
        /// `worker`, when set, is named in the entry (the supervisor adds its pid and slot).
        case log(Logger.Level, String, worker: WorkerID? = nil, metadata: Logger.Metadata = [:])
        case exit(Int32)
    }

    public enum WorkerPhase: Sendable, Equatable {
        /// Spawned, not yet ready.
        case starting
        /// Accepting on its slot's socket.
        case ready
        /// Told to stop accepting (rolling reload); waiting for `.stoppedAccepting`.
        case stoppingAccept
        /// Stopped accepting but still serving its connections.
        case notAccepting
        /// Told to drain (or to exit at once); its exit ends it.
        case draining
    }

    public struct Worker: Sendable, Equatable {
        public let id: WorkerID
        public let slot: Int
        public let spawnedAt: ContinuousClock.Instant
        public internal(set) var phase: WorkerPhase = .starting
        public internal(set) var readyAt: ContinuousClock.Instant?
        /// `SIGABRT` went out: it hung; later heartbeats do not save it.
        public internal(set) var aborted = false

        public var becameReady: Bool { readyAt != nil }
    }

    public struct Slot: Sendable, Equatable {
        public let index: Int
        /// The worker accepting on the slot's socket (or starting to).
        public internal(set) var worker: WorkerID?
        /// The new worker of a rolling reload, until it is ready.
        public internal(set) var replacement: WorkerID?
        /// Old workers that stopped accepting but were not drained (a reload failed here); they
        /// are drained once the slot has a ready worker again.
        public internal(set) var retained: [WorkerID] = []
        public internal(set) var restarts: SlotRestartTracker
        public internal(set) var restartAt: ContinuousClock.Instant?
    }

    public let settings: Settings
    public internal(set) var phase: Phase = .idle
    public internal(set) var slots: [Slot] = []
    public internal(set) var workers: [WorkerID: Worker] = [:]
    /// The reload in progress, past loading its configuration.
    public internal(set) var reload: RollingReloadStateMachine?
    /// A reload is loading its configuration (between ``Action/loadConfiguration`` and the answer).
    public internal(set) var loadingConfiguration = false
    /// A `SIGHUP` that arrived during a start or a reload: it runs once that is over.
    public internal(set) var reloadPending = false
    /// Slots to add (positive) or remove (negative) once the reload in progress is over.
    public internal(set) var pendingScaling = 0
    public internal(set) var reloadsFinished = 0
    /// `ok`, or why the last reload failed (`none` before the first).
    public internal(set) var lastReload = "none"
    /// The last reload's failure, shown until a reload succeeds.
    public internal(set) var reloadFailure: String?
    /// Unplanned worker deaths, all slots together.
    public internal(set) var restartsTotal = 0
    public internal(set) var exitCode: Int32 = 0
    var stopKilled = false
    var redisRunning = false
    var redisStartedAt: ContinuousClock.Instant?
    var redisStopKilled = false
    public internal(set) var redisRestarts = SlotRestartTracker()
    var nextWorker = 0

    /// The actions of the event being fed.
    var output: [Action] = []
    var now: ContinuousClock.Instant = .now

    public init(settings: Settings = Settings()) {
        self.settings = settings
        self.redisRestarts = SlotRestartTracker(policy: settings.restartPolicy)
    }

    /// The one way in: what happened at `now`, and what to do about it, in order.
    public mutating func feed(_ event: Event, at now: ContinuousClock.Instant) -> [Action] {
        self.now = now
        output = []
        switch event {
        case .start(let count, let embeddedRedis): start(slots: count, embeddedRedis: embeddedRedis)
        case .spawnFailed(let id, let reason): spawnFailed(id, reason: reason)
        case .workerExited(let id, let exit): workerExited(id, exit)
        case .ready(let id): workerReady(id)
        case .heartbeat(let id): heartbeat(id)
        case .stoppedAccepting(let id): stoppedAccepting(id)
        case .drained(let id): drained(id)
        case .reloadRequested: requestReload()
        case .configurationLoaded: configurationLoaded()
        case .configurationRefused(let reason): configurationRefused(reason)
        case .scaleUp: scaleUp()
        case .scaleDown: scaleDown()
        case .slotOpened: slotOpened()
        case .slotOpenFailed(let reason): emit(.log(.error, "SIGTTIN: cannot open another socket: \(reason)"))
        case .stop: stopRequested()
        case .fastStop: beginFastStop()
        case .redisExited(let exit, let lastOutput): redisExited(exit, output: lastOutput)
        case .redisStartFailed(let reason): redisStartFailed(reason)
        case .timerFired(let timer): timerFired(timer)
        }
        return output
    }

    mutating func emit(_ action: Action) {
        output.append(action)
    }

    private mutating func timerFired(_ timer: Timer) {
        switch timer {
        case .restart(let slot): restartDue(slot: slot)
        case .heartbeat(let id): heartbeatMissed(id)
        case .killAfterAbort(let id):
            guard workers[id] != nil else { return }
            emit(.log(.error, "worker still there after SIGABRT: killing it", worker: id))
            emit(.kill(id, signal: SIGKILL))
        case .drainDeadline(let id):
            guard workers[id] != nil else { return }
            emit(.log(.warning, "worker still draining at the drain timeout; killing it", worker: id))
            emit(.kill(id, signal: SIGKILL))
        case .reload: reloadTimedOut()
        case .stopDeadline: stopDeadlinePassed()
        case .redisRestart: restartRedis()
        case .redisStopDeadline: redisStopDeadlinePassed()
        }
    }

    // MARK: Queries (STATUS=, /health, /metrics)

    public var isAcceptingCommands: Bool { phase == .starting || phase == .serving }

    public var isReloading: Bool { reload != nil || loadingConfiguration }

    /// Slots whose worker is ready.
    public var readyWorkers: Int {
        slots.filter { slot in slot.worker.flatMap { workers[$0] }?.phase == .ready }.count
    }

    public var statusPhase: SupervisorStatus.Phase {
        switch phase {
        case .idle, .starting: return .starting
        case .serving: return reload?.currentSlot.map { .reloading(slot: $0) } ?? .serving
        case .stopping, .stoppingRedis, .exited: return .stopping
        }
    }

    /// Every slot's state for STATUS=, `/health` and `/metrics`.
    public func slotStates(now: ContinuousClock.Instant) -> [SlotState] {
        slots.map { slot in
            let state: SlotState.Phase
            var retry: Int?
            if let due = slot.restartAt, slot.worker == nil {
                state = .backoff
                retry = max(0, (due - now).wholeMilliseconds)
            } else if slot.worker.flatMap({ workers[$0] })?.phase == .ready {
                state = .ready
            } else {
                state = .starting
            }
            return SlotState(
                slot: slot.index, state: state, restarts: slot.restarts.restarts, retryInMs: retry,
                lastExit: slot.restarts.lastExit.map { "\($0)" }
            )
        }
    }
}

extension Duration {
    /// Whole milliseconds, for log lines and `retryInMs`.
    var wholeMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
