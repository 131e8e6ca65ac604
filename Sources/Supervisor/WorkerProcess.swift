import EchoShared
import EchoSupervision

/// One running `echo-worker` as the supervisor sees it.
final class WorkerProcess {
    enum State: Equatable {
        /// Spawned, not yet ready.
        case starting
        /// Accepting on its slot's socket.
        case ready
        /// Told to stop accepting (rolling reload); waiting for `.stoppedAccepting`.
        case stoppingAccept
        /// Stopped accepting but still serving its connections (a reload failed at its slot).
        case notAccepting
        /// Told to drain; exits by itself, or is killed at ``WorkerProcess/drainDeadline``.
        case draining
    }

    let pid: Int32
    let slot: Int
    let link: WorkerLink
    let spawnedAt: ContinuousClock.Instant
    var state: State = .starting
    var readyAt: ContinuousClock.Instant?
    var stats: WorkerStats?
    var watch: HeartbeatWatch
    var drainDeadline: ContinuousClock.Instant?
    var killedAfterDrain = false

    init(pid: Int32, slot: Int, link: WorkerLink, spawnedAt: ContinuousClock.Instant) {
        self.pid = pid
        self.slot = slot
        self.link = link
        self.spawnedAt = spawnedAt
        self.watch = HeartbeatWatch(startedAt: spawnedAt)
    }

    var becameReady: Bool { readyAt != nil }
}

/// A worker slot: its socket and who serves it.
struct Slot {
    let index: Int
    let socket: ListeningSocket
    /// The worker accepting on the socket (or starting to).
    var worker: Int32?
    /// The new worker of a rolling reload, until it is ready.
    var replacement: Int32?
    /// Old workers that stopped accepting but were not drained (a reload failed here); they are
    /// drained once the slot has a ready worker again.
    var retained: [Int32] = []
    var restarts: SlotRestartTracker
    var restartAt: ContinuousClock.Instant?

    init(index: Int, socket: ListeningSocket, policy: RestartPolicy) {
        self.index = index
        self.socket = socket
        self.restarts = SlotRestartTracker(policy: policy)
    }
}
