import EchoShared
import EchoSupervision
import Glibc
import Logging

extension Supervisor {
    /// SIGHUP: re-reads the configuration and replaces the workers one slot at a time.
    func beginReload(now: ContinuousClock.Instant) {
        guard phase == .serving, reload == nil else {
            if phase == .starting || reload != nil {
                // Run it once the current start or reload is over.
                reloadRequested = true
            }
            return
        }
        Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Systemd.monotonicMicroseconds())\nSTATUS=Reloading")
        writeStateFile(reloading: true)
        let next: EchoConfiguration
        do {
            next = try loadConfiguration()
        } catch {
            finishReload(failure: "configuration: \(error)", now: now)
            return
        }
        guard access(settings.workerBinary, X_OK) == 0 else {
            finishReload(failure: "\(settings.workerBinary) is missing or not executable", now: now)
            return
        }
        let rolling = slots.indices.filter { index in
            slots[index].worker.flatMap { workers[$0] }?.state == .ready
        }
        logger.info("rolling reload", metadata: ["slots": "\(rolling)"])
        var machine = RollingReloadStateMachine(slots: rolling, stopTimeout: .seconds(5), readyTimeout: settings.startTimeout)
        let actions = machine.start(now: now)
        reload = ReloadRun(machine: machine, configuration: next)
        perform(reloadActions: actions, now: now)
    }

    /// The configuration as it would be read at start now: flags over the environment file over
    /// the process environment. The sockets stay: a new HOST or PORT needs a restart.
    func loadConfiguration() throws -> EchoConfiguration {
        var values = startEnvironment
        if let path = settings.envFile, access(path, F_OK) == 0 {
            values.merge(try EnvironmentFile.read(path: path)) { _, file in file }
        }
        var next = try options.configuration(environment: values)
        if next.host != configuration.host || next.port != configuration.port {
            logger.warning("HOST and PORT changes take effect at the next restart, not on reload")
            next.host = configuration.host
            next.port = configuration.port
        }
        if next.redisURL == nil, let redis { next.redisURL = redis.url }
        return next
    }

    func perform(reloadActions actions: [RollingReloadStateMachine.Action], now: ContinuousClock.Instant) {
        for action in actions {
            guard let run = reload else { return }
            switch action {
            case .stopAccepting(let slot):
                if let pid = slots[slot].worker, let worker = workers[pid] {
                    worker.state = .stoppingAccept
                    worker.link.send(.stopAccepting)
                    logger.info("reload: old worker stops accepting", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
                } else {
                    advanceReload(now: now) { $0.oldExited(slot: slot, now: now) }
                }
            case .killOld(let slot):
                if let pid = slots[slot].worker {
                    logger.error("reload: old worker did not stop accepting in time; killing it", metadata: ["slot": "\(slot)", "pid": "\(pid)"])
                    kill(pid, SIGKILL)
                }
            case .spawnReplacement(let slot):
                if spawnWorker(slot: slot, now: now, configuration: run.configuration, asReplacement: true) == nil {
                    advanceReload(now: now) { $0.replacementFailed(slot: slot, reason: "cannot start \(settings.workerBinary)") }
                }
            case .drainOld(let slot):
                let old = slots[slot].worker
                slots[slot].worker = slots[slot].replacement
                slots[slot].replacement = nil
                slots[slot].restartAt = nil
                if let old { drain(pid: old, closeCode: .serviceRestart, now: now) }
            case .finished:
                configuration = run.configuration
                reload = nil
                reloadFailure = nil
                finishReload(failure: nil, now: now)
            case .failed(let slot, let reason):
                reload = nil
                if let pid = slots[slot].replacement {
                    kill(pid, SIGKILL)
                    slots[slot].replacement = nil
                }
                if let old = slots[slot].worker {
                    // It no longer accepts but still serves its clients: keep it until the slot
                    // has a ready worker again (started with the configuration that worked).
                    slots[slot].retained.append(old)
                    slots[slot].worker = nil
                }
                if slots[slot].worker == nil { slots[slot].restartAt = now + .milliseconds(500) }
                finishReload(failure: reason, now: now)
            }
        }
    }

    private func advanceReload(now: ContinuousClock.Instant, _ event: (inout RollingReloadStateMachine) -> [RollingReloadStateMachine.Action]) {
        guard var run = reload else { return }
        let actions = event(&run.machine)
        reload = run
        perform(reloadActions: actions, now: now)
    }

    private func finishReload(failure: String?, now: ContinuousClock.Instant) {
        reloadsFinished += 1
        if let failure {
            reloadFailure = failure
            logger.error("reload failed; the old workers keep serving", metadata: ["reason": "\(failure)"])
        } else {
            logger.info("reload done", metadata: ["workers": "\(slots.count)"])
        }
        writeStateFile(lastReload: failure ?? "ok")
        let status = currentStatus().line
        lastStatus = status
        Systemd.notify("READY=1\nSTATUS=\(status)")
        if reloadRequested {
            reloadRequested = false
            beginReload(now: now)
        }
    }
}
