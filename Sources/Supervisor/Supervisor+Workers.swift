import EchoShared
import EchoSupervision
import Glibc
import Logging

extension Supervisor {
    /// Starts a worker on `slot`'s socket with `configuration` (the current one unless a reload
    /// passes its new one). Returns the pid, or `nil` when the spawn itself failed.
    @discardableResult
    func spawnWorker(slot index: Int, now: ContinuousClock.Instant, configuration override: EchoConfiguration? = nil, asReplacement: Bool = false) -> Int32? {
        let configuration = override ?? self.configuration
        let environment = WorkerEnvironment.build(
            inherited: startEnvironment,
            configuration: configuration.environment,
            slot: index,
            heartbeatMilliseconds: settings.heartbeatInterval.milliseconds
        )
        do {
            let (link, childEnd) = try WorkerLink.makePair()
            defer { close(childEnd) }
            let pid = try ProcessSpawner.spawn(
                path: settings.workerBinary,
                arguments: [],
                environment: WorkerEnvironment.entries(environment),
                descriptors: [(slots[index].socket.fd, WorkerEnvironment.listenFD), (childEnd, WorkerEnvironment.controlFD)]
            )
            let worker = WorkerProcess(pid: pid, slot: index, link: link, spawnedAt: now)
            workers[pid] = worker
            if asReplacement {
                slots[index].replacement = pid
            } else {
                slots[index].worker = pid
            }
            logger.info("started worker", metadata: ["slot": "\(index)", "pid": "\(pid)", "binary": "\(settings.workerBinary)"])
            return pid
        } catch {
            logger.error("cannot start worker", metadata: ["slot": "\(index)", "error": "\(error)"])
            return nil
        }
    }

    func readControl(of worker: WorkerProcess) {
        let (messages, closed) = worker.link.receive { line in
            logger.warning("unreadable control message", metadata: ["pid": "\(worker.pid)", "line": "\(line)"])
        }
        let now = ContinuousClock.now
        for message in messages { handle(message: message, from: worker, now: now) }
        if closed {
            // The worker is exiting or gone; waitpid tells the rest.
            worker.link.close()
        }
    }

    func handle(message: ControlMessage, from worker: WorkerProcess, now: ContinuousClock.Instant) {
        worker.watch.heard(at: now)
        switch message {
        case .ready(let pid):
            guard worker.state == .starting else { return }
            worker.state = .ready
            worker.readyAt = now
            // Counted in the host figures from now, not from its first heartbeat: /health on any
            // worker says how many are serving as soon as they are. Zero counts until that
            // heartbeat (a second later); Redis marked up, as it is unless the worker gave up
            // waiting for it (5 s) before saying ready.
            if worker.stats == nil { worker.stats = WorkerStats(slot: worker.slot, pid: worker.pid, redisConnected: true) }
            if worker.slot < slots.count, slots[worker.slot].worker == worker.pid || slots[worker.slot].replacement == worker.pid {
                slots[worker.slot].restarts.workerBecameReady()
            }
            logger.info(
                "worker ready",
                metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)", "startup_ms": "\((now - worker.spawnedAt).milliseconds)", "reported_pid": "\(pid)"]
            )
            // Before READY=1 can go out (in workerBecameReady), so a client that hears the
            // service is up already gets the full host figures.
            broadcastHostStats()
            workerBecameReady(worker, now: now)
        case .heartbeat(let stats):
            worker.stats = stats
            if worker.slot < slots.count, let readyAt = worker.readyAt {
                slots[worker.slot].restarts.workerIsHealthy(uptime: now - readyAt)
            }
        case .stoppedAccepting:
            guard worker.state == .stoppingAccept else { return }
            worker.state = .notAccepting
            if var run = reload {
                let actions = run.machine.oldStoppedAccepting(slot: worker.slot, now: now)
                reload = run
                perform(reloadActions: actions, now: now)
            }
        case .drained:
            logger.debug("worker drained", metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)"])
        case .stopAccepting, .drain, .host:
            logger.warning("a worker sent a supervisor's message", metadata: ["pid": "\(worker.pid)"])
        }
    }

    private func workerBecameReady(_ worker: WorkerProcess, now: ContinuousClock.Instant) {
        guard worker.slot < slots.count else { return }
        if slots[worker.slot].replacement == worker.pid, var run = reload {
            let actions = run.machine.replacementReady(slot: worker.slot, now: now)
            reload = run
            perform(reloadActions: actions, now: now)
            return
        }
        guard slots[worker.slot].worker == worker.pid else { return }
        if case .stopping = phase {
            // A stop began while it started: it never accepted anything, let it go at once.
            worker.link.close()
            return
        }
        // Old workers kept by a failed reload can go now that the slot serves again.
        for pid in slots[worker.slot].retained { drain(pid: pid, closeCode: .serviceRestart, now: now) }
        slots[worker.slot].retained.removeAll()
        declareReadyIfAllSlotsAre(now: now)
    }

    /// `READY=1` once every slot has a ready worker, and not before: systemd (and `systemctl start`)
    /// must not report the service up while a slot's connections would only queue.
    func declareReadyIfAllSlotsAre(now: ContinuousClock.Instant) {
        if phase == .starting, slots.allSatisfy({ slot in slot.worker.flatMap { workers[$0] }?.state == .ready }) {
            phase = .serving
            let status = currentStatus().line
            lastStatus = status
            Systemd.notify("READY=1\nSTATUS=\(status)")
            logger.info("all workers ready", metadata: ["workers": "\(slots.count)"])
            if reloadRequested {
                reloadRequested = false
                beginReload(now: now)
            }
        }
    }

    /// Tells `pid` to close its WebSockets with `closeCode` and exit; it is killed if still there
    /// after the drain timeout.
    func drain(pid: Int32, closeCode: CloseCode, now: ContinuousClock.Instant) {
        guard let worker = workers[pid], worker.state != .draining else { return }
        worker.state = .draining
        worker.drainDeadline = now + settings.drainTimeout
        worker.link.send(.drain(closeCode: closeCode, windowMilliseconds: settings.drainWindow.milliseconds))
        logger.info("draining worker", metadata: ["slot": "\(worker.slot)", "pid": "\(pid)", "close_code": "\(closeCode)"])
    }

    /// A child ended: a worker, the embedded redis-server, or something we no longer track.
    func childExited(pid: Int32, status: Int32, now: ContinuousClock.Instant) {
        if let redis, redis.exited(pid: pid) {
            redisExited(status: status, now: now)
            return
        }
        guard let worker = workers.removeValue(forKey: pid) else { return }
        worker.link.close()
        let exit = ProcessExit(waitStatus: status)
        let index = worker.slot
        let metadata: Logger.Metadata = ["slot": "\(index)", "pid": "\(pid)", "status": "\(exit)"]
        guard index < slots.count else {
            logger.info("worker of a removed slot exited", metadata: metadata)
            return
        }
        slots[index].retained.removeAll { $0 == pid }

        if slots[index].replacement == pid {
            slots[index].replacement = nil
            logger.error("the new worker died before it was ready", metadata: metadata)
            if var run = reload {
                let actions = run.machine.replacementFailed(slot: index, reason: "the new worker on slot \(index) exited (\(exit)) before it was ready")
                reload = run
                perform(reloadActions: actions, now: now)
            }
            return
        }
        guard slots[index].worker == pid else {
            // A drained or retained old worker: its exit is the plan.
            logger.info("worker exited", metadata: metadata)
            return
        }
        slots[index].worker = nil
        if case .stopping = phase {
            logger.info("worker exited", metadata: metadata)
            return
        }
        if let run = reload, run.machine.currentSlot == index, worker.state == .stoppingAccept || worker.state == .notAccepting {
            // It died while being replaced: the reload goes on with its slot free.
            var machine = run.machine
            let actions = machine.oldExited(slot: index, now: now)
            reload?.machine = machine
            perform(reloadActions: actions, now: now)
            return
        }
        restartsTotal += 1
        let uptime = now - worker.spawnedAt
        logger.error(
            worker.becameReady ? "worker died" : "worker died before it was ready",
            metadata: metadata.merging(["uptime_ms": "\(uptime.milliseconds)"]) { $1 }
        )
        restart(slot: index, after: slots[index].restarts.workerDied(exit, uptime: uptime, becameReady: worker.becameReady), now: now)
    }

    /// Acts on a slot's restart decision: start again (now or after its back-off), or stop the
    /// supervisor when no worker can start at all (RestartPolicy's rule). Only this slot waits;
    /// the others keep serving, and its socket keeps queueing connections.
    private func restart(slot index: Int, after decision: SlotRestartTracker.Decision, now: ContinuousClock.Instant) {
        switch decision {
        case .giveUp(let reason, let code):
            giveUp(reason: reason, exitCode: code, now: now)
        case .restart(let delay):
            if let reason = slots[index].restarts.policy.giveUpReason(slots: slots.map(\.restarts)) {
                giveUp(reason: reason, exitCode: 1, now: now)
            } else if delay == .zero {
                spawnOrBackOff(slot: index, now: now)
            } else {
                slots[index].restartAt = now + delay
                logger.warning(
                    "slot backing off",
                    metadata: ["slot": "\(index)", "delay_ms": "\(delay.milliseconds)", "restarts": "\(slots[index].restarts.restarts)"]
                )
                updateStatus()
                broadcastHostStats()
            }
        }
    }

    func giveUp(reason: String, exitCode code: Int32, now: ContinuousClock.Instant) {
        logger.critical("giving up: \(reason)")
        Systemd.notify("STATUS=Failed: \(reason)")
        beginStop(closeCode: .serviceRestart, exitCode: code, now: now)
    }

    /// Spawns the slot's worker; a failed spawn (binary missing, out of processes) counts as a
    /// failed start, so the slot backs off, and the supervisor gives up if no slot ever starts.
    func spawnOrBackOff(slot index: Int, now: ContinuousClock.Instant) {
        guard spawnWorker(slot: index, now: now) == nil else { return }
        restartsTotal += 1
        let decision = slots[index].restarts.workerDied(.exited(127), uptime: .zero, becameReady: false)
        if case .restart(let delay) = decision, delay == .zero {
            // Never retry a failed spawn in the same pass: that would spin.
            restart(slot: index, after: .restart(after: slots[index].restarts.policy.firstDelay), now: now)
        } else {
            restart(slot: index, after: decision, now: now)
        }
    }

    /// Every slot's state for STATUS=, `/health` and `/metrics`.
    func slotStates(now: ContinuousClock.Instant) -> [SlotState] {
        slots.map { slot in
            let tracker = slot.restarts
            let state: SlotState.Phase
            var retry: Int?
            if let due = slot.restartAt, slot.worker == nil {
                state = .backoff
                retry = max(0, (due - now).milliseconds)
            } else if slot.worker.flatMap({ workers[$0] })?.state == .ready {
                state = .ready
            } else {
                state = .starting
            }
            return SlotState(slot: slot.index, state: state, restarts: tracker.restarts, retryInMs: retry, lastExit: tracker.lastExit.map { "\($0)" })
        }
    }

    func restartDueSlots(now: ContinuousClock.Instant) {
        guard phase == .starting || phase == .serving else { return }
        for index in slots.indices {
            guard let due = slots[index].restartAt, now >= due else { continue }
            slots[index].restartAt = nil
            if slots[index].worker == nil { spawnOrBackOff(slot: index, now: now) }
        }
    }

    /// Hung workers (no heartbeat, or never ready) and drains that outlive the drain timeout.
    func checkWorkerDeadlines(now: ContinuousClock.Instant) {
        for worker in workers.values {
            if worker.state == .draining {
                if let deadline = worker.drainDeadline, now >= deadline, !worker.killedAfterDrain {
                    worker.killedAfterDrain = true
                    logger.warning("worker still draining at the drain timeout; killing it", metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)"])
                    kill(worker.pid, SIGKILL)
                }
                continue
            }
            let timeout = worker.becameReady ? settings.heartbeatTimeout : settings.startTimeout
            switch worker.watch.check(now: now, timeout: timeout, killGrace: settings.killGrace) {
            case .abort:
                logger.error(
                    worker.becameReady ? "worker missed its heartbeats: aborting it" : "worker did not get ready in time: aborting it",
                    metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)", "timeout": "\(timeout)"]
                )
                kill(worker.pid, SIGABRT)
                // A stopped process acts on SIGABRT only once continued.
                kill(worker.pid, SIGCONT)
            case .kill:
                logger.error("worker still there after SIGABRT: killing it", metadata: ["slot": "\(worker.slot)", "pid": "\(worker.pid)"])
                kill(worker.pid, SIGKILL)
            case nil:
                break
            }
        }
    }
}
