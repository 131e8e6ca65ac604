import EchoShared
import Glibc
import Logging

extension SupervisorStateMachine {
    mutating func start(slots count: Int, embeddedRedis: Bool) {
        guard phase == .idle else { return }
        phase = .starting
        redisRunning = embeddedRedis
        redisStartedAt = embeddedRedis ? now : nil
        slots = (0..<count).map { Slot(index: $0, restarts: SlotRestartTracker(policy: settings.restartPolicy)) }
        for index in slots.indices { spawnWorker(slot: index) }
        emit(.writeStateFile(reloadsFinished: reloadsFinished, reloading: false, lastReload: lastReload))
        emit(.updateStatus(force: true))
    }

    /// Asks for a new worker on `slot`: the slot's own, or (during a reload) its replacement.
    mutating func spawnWorker(slot index: Int, replacement: Bool = false) {
        let id = WorkerID(nextWorker)
        nextWorker += 1
        workers[id] = Worker(id: id, slot: index, spawnedAt: now)
        if replacement {
            slots[index].replacement = id
        } else {
            slots[index].worker = id
        }
        emit(.spawn(id, slot: index, configuration: replacement ? .next : .current))
        emit(.schedule(.heartbeat(id), at: now + settings.startTimeout))
    }

    /// A spawn that failed counts as a failed start (exit code 127), so the slot backs off and the
    /// supervisor gives up if no slot ever starts.
    mutating func spawnFailed(_ id: WorkerID, reason: String) {
        guard let worker = forget(id) else { return }
        emit(.log(.error, "cannot start worker", metadata: ["slot": "\(worker.slot)", "error": "\(reason)"]))
        guard worker.slot < slots.count else { return }
        let index = worker.slot
        if slots[index].replacement == id {
            slots[index].replacement = nil
            if reload != nil { applyReload { $0.replacementFailed(slot: index, reason: "cannot start the new worker: \(reason)") } }
            return
        }
        guard slots[index].worker == id else { return }
        slots[index].worker = nil
        guard isAcceptingCommands else { return }
        restartsTotal += 1
        let decision = slots[index].restarts.workerDied(.exited(127), uptime: .zero, becameReady: false)
        if case .restart(let delay) = decision, delay == .zero {
            // Never retry a failed spawn in the same pass: that would spin.
            restart(slot: index, after: .restart(after: settings.restartPolicy.firstDelay))
        } else {
            restart(slot: index, after: decision)
        }
    }

    /// Drops a worker and its timers; returns what it was.
    mutating func forget(_ id: WorkerID) -> Worker? {
        guard let worker = workers.removeValue(forKey: id) else { return nil }
        emit(.cancel(.heartbeat(id)))
        if worker.aborted { emit(.cancel(.killAfterAbort(id))) }
        if worker.phase == .draining { emit(.cancel(.drainDeadline(id))) }
        return worker
    }

    mutating func workerExited(_ id: WorkerID, _ exit: ProcessExit) {
        guard let worker = forget(id) else { return }
        let index = worker.slot
        let metadata: Logger.Metadata = ["status": "\(exit)"]
        guard isAcceptingCommands else {
            // Stopping (a straggler killed at the deadline may be reaped even after Redis began
            // stopping): an exit ends a worker, it never starts one.
            emit(.log(.info, "worker exited", worker: id, metadata: metadata))
            if case .stopping = phase, workers.isEmpty { stopRedis() }
            return
        }
        guard index < slots.count else {
            emit(.log(.info, "worker of a removed slot exited", worker: id, metadata: metadata))
            return
        }
        slots[index].retained.removeAll { $0 == id }
        if slots[index].replacement == id {
            slots[index].replacement = nil
            emit(.log(.error, "the new worker died before it was ready", worker: id, metadata: metadata))
            if reload != nil {
                applyReload { $0.replacementFailed(slot: index, reason: "the new worker on slot \(index) exited (\(exit)) before it was ready") }
            }
            return
        }
        guard slots[index].worker == id else {
            // A drained or retained old worker: its exit is the plan.
            emit(.log(.info, "worker exited", worker: id, metadata: metadata))
            return
        }
        slots[index].worker = nil
        if reload?.currentSlot == index, worker.phase == .stoppingAccept || worker.phase == .notAccepting {
            // It died while being replaced: the reload goes on with its slot free.
            emit(.log(.warning, "the old worker exited during its replacement", worker: id, metadata: metadata))
            applyReload { [now] in $0.oldExited(slot: index, now: now) }
            return
        }
        restartsTotal += 1
        let uptime = now - worker.spawnedAt
        emit(.log(
            .error, worker.becameReady ? "worker died" : "worker died before it was ready", worker: id,
            metadata: metadata.merging(["uptime_ms": "\(uptime.wholeMilliseconds)"]) { $1 }
        ))
        restart(slot: index, after: slots[index].restarts.workerDied(exit, uptime: uptime, becameReady: worker.becameReady))
    }

    /// Acts on a slot's restart decision: start again (now or after its back-off), or stop the
    /// supervisor when no worker can start at all (RestartPolicy's rule). Only this slot waits;
    /// the others keep serving, and its socket keeps queueing connections.
    mutating func restart(slot index: Int, after decision: SlotRestartTracker.Decision) {
        switch decision {
        case .giveUp(let reason, let code):
            giveUp(reason: reason, exitCode: code)
        case .restart(let delay):
            if let reason = settings.restartPolicy.giveUpReason(slots: slots.map(\.restarts)) {
                giveUp(reason: reason, exitCode: 1)
            } else if delay == .zero {
                spawnWorker(slot: index)
            } else {
                slots[index].restartAt = now + delay
                emit(.schedule(.restart(slot: index), at: now + delay))
                emit(.log(
                    .warning, "slot backing off",
                    metadata: ["slot": "\(index)", "delay_ms": "\(delay.wholeMilliseconds)", "restarts": "\(slots[index].restarts.restarts)"]
                ))
                emit(.updateStatus(force: false))
                emit(.broadcastHostStats)
            }
        }
    }

    mutating func restartDue(slot index: Int) {
        guard isAcceptingCommands, index < slots.count, slots[index].restartAt != nil else { return }
        slots[index].restartAt = nil
        if slots[index].worker == nil { spawnWorker(slot: index) }
    }

    mutating func giveUp(reason: String, exitCode code: Int32) {
        emit(.log(.critical, "giving up: \(reason)"))
        emit(.notify(.failed(reason)))
        beginStop(closeCode: .serviceRestart, exitCode: code)
    }

    /// Any message is a sign of life: the hang timer starts again (unless the worker was already
    /// aborted, or drains, which has its own deadline).
    mutating func heard(_ id: WorkerID) {
        guard let worker = workers[id], !worker.aborted, worker.phase != .draining else { return }
        let timeout = worker.becameReady ? settings.heartbeatTimeout : settings.startTimeout
        emit(.schedule(.heartbeat(id), at: now + timeout))
    }

    mutating func workerReady(_ id: WorkerID) {
        guard var worker = workers[id], worker.phase == .starting else { return }
        worker.phase = .ready
        worker.readyAt = now
        workers[id] = worker
        heard(id)
        let index = worker.slot
        guard index < slots.count else { return }
        if slots[index].worker == id || slots[index].replacement == id {
            slots[index].restarts.workerBecameReady()
        }
        emit(.log(.info, "worker ready", worker: id, metadata: ["startup_ms": "\((now - worker.spawnedAt).wholeMilliseconds)"]))
        // Before READY=1, so a client that hears the service is up already gets the host figures.
        emit(.broadcastHostStats)
        if slots[index].replacement == id, reload != nil {
            applyReload { [now] in $0.replacementReady(slot: index, now: now) }
            return
        }
        guard slots[index].worker == id else { return }
        if !isAcceptingCommands {
            // A stop began while it started: it never accepted anything, let it go at once.
            workers[id]?.phase = .draining
            emit(.closeLink(id))
            return
        }
        // Old workers kept by a failed reload can go now that the slot serves again.
        for old in slots[index].retained { drain(old, closeCode: .serviceRestart) }
        slots[index].retained.removeAll()
        declareReadyIfAllSlotsAre()
    }

    /// `READY=1` once every slot has a ready worker, and not before: systemd (and `systemctl start`)
    /// must not report the service up while a slot's connections would only queue.
    mutating func declareReadyIfAllSlotsAre() {
        guard phase == .starting, slots.allSatisfy({ slot in slot.worker.flatMap { workers[$0] }?.phase == .ready }) else { return }
        phase = .serving
        emit(.notify(.ready))
        emit(.log(.info, "all workers ready", metadata: ["workers": "\(slots.count)"]))
        if reloadPending {
            reloadPending = false
            beginReload()
        }
    }

    mutating func heartbeat(_ id: WorkerID) {
        heard(id)
        guard let worker = workers[id], let readyAt = worker.readyAt, worker.slot < slots.count else { return }
        slots[worker.slot].restarts.workerIsHealthy(uptime: now - readyAt)
    }

    mutating func stoppedAccepting(_ id: WorkerID) {
        heard(id)
        guard let worker = workers[id], worker.phase == .stoppingAccept else { return }
        workers[id]?.phase = .notAccepting
        if reload != nil { applyReload { [now] in $0.oldStoppedAccepting(slot: worker.slot, now: now) } }
    }

    mutating func drained(_ id: WorkerID) {
        emit(.log(.debug, "worker drained", worker: id))
    }

    /// Tells the worker to close its WebSockets with `closeCode` and exit; it is killed if still
    /// there after the drain timeout.
    mutating func drain(_ id: WorkerID, closeCode: CloseCode) {
        guard let worker = workers[id], worker.phase != .draining else { return }
        workers[id]?.phase = .draining
        emit(.cancel(.heartbeat(id)))
        emit(.schedule(.drainDeadline(id), at: now + settings.drainTimeout))
        let window = settings.drainWindow.wholeMilliseconds
        emit(.send(id, .drain(closeCode: closeCode, windowMilliseconds: window)))
        emit(.log(.info, "draining worker", worker: id, metadata: ["close_code": "\(closeCode)"]))
    }

    /// A worker that never accepted anything has nobody to drain: closing its channel makes it exit.
    mutating func dismiss(_ id: WorkerID) {
        guard let worker = workers[id], worker.phase != .draining else { return }
        if worker.becameReady {
            drain(id, closeCode: .goingAway)
        } else {
            workers[id]?.phase = .draining
            emit(.cancel(.heartbeat(id)))
            emit(.closeLink(id))
        }
    }

    /// Silence past the timeout: `SIGABRT` (a core dump or backtrace says where it hung, and
    /// `SIGCONT` lets a stopped process act on it), then `SIGKILL` after the grace period.
    mutating func heartbeatMissed(_ id: WorkerID) {
        guard var worker = workers[id], !worker.aborted, worker.phase != .draining else { return }
        worker.aborted = true
        workers[id] = worker
        let timeout = worker.becameReady ? settings.heartbeatTimeout : settings.startTimeout
        emit(.log(
            .error,
            worker.becameReady ? "worker missed its heartbeats: aborting it" : "worker did not get ready in time: aborting it",
            worker: id, metadata: ["timeout": "\(timeout)"]
        ))
        emit(.kill(id, signal: SIGABRT))
        emit(.kill(id, signal: SIGCONT))
        emit(.schedule(.killAfterAbort(id), at: now + settings.killGrace))
    }
}
