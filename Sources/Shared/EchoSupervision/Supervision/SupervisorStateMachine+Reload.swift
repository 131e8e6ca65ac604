import EchoShared
import Glibc
import Logging

/// `SIGHUP`: re-read the configuration, then replace the workers one slot at a time
/// (``RollingReloadStateMachine`` holds the per-slot plan; only this file drives it).
extension SupervisorStateMachine {
    mutating func requestReload() {
        switch phase {
        case .starting:
            // Run it once every slot is ready.
            reloadPending = true
        case .serving where isReloading:
            // Run it once the current reload is over.
            reloadPending = true
        case .serving:
            beginReload()
        case .idle, .stopping, .stoppingRedis, .exited:
            emit(.log(.warning, "SIGHUP while stopping is ignored"))
        }
    }

    mutating func beginReload() {
        guard phase == .serving, !isReloading else { return }
        loadingConfiguration = true
        emit(.notify(.reloading))
        emit(.writeStateFile(reloadsFinished: reloadsFinished, reloading: true, lastReload: lastReload))
        emit(.loadConfiguration)
    }

    mutating func configurationRefused(_ reason: String) {
        guard loadingConfiguration else { return }
        loadingConfiguration = false
        finishReload(failure: reason)
    }

    mutating func configurationLoaded() {
        guard loadingConfiguration else { return }
        loadingConfiguration = false
        // Only slots that serve are rolled; a backing-off slot starts with the new configuration
        // anyway once the reload has adopted it.
        let rolling = slots.indices.filter { index in slots[index].worker.flatMap { workers[$0] }?.phase == .ready }
        emit(.log(.info, "rolling reload", metadata: ["slots": "\(rolling)"]))
        reload = RollingReloadStateMachine(slots: rolling, stopTimeout: settings.reloadStopTimeout, readyTimeout: settings.startTimeout)
        applyReload { [now] in $0.start(now: now) }
    }

    mutating func reloadTimedOut() {
        guard reload != nil else { return }
        applyReload { [now] in $0.tick(now: now) }
    }

    /// Feeds the reload sub-machine one event and carries out what it says.
    mutating func applyReload(_ event: (inout RollingReloadStateMachine) -> [RollingReloadStateMachine.Action]) {
        guard reload != nil else { return }
        let actions = event(&reload!)
        for action in actions {
            guard reload != nil else { break }
            perform(reloadAction: action)
        }
        if let deadline = reload?.deadline {
            emit(.schedule(.reload, at: deadline))
        } else {
            emit(.cancel(.reload))
        }
    }

    private mutating func perform(reloadAction action: RollingReloadStateMachine.Action) {
        switch action {
        case .stopAccepting(let slot):
            if let old = slots[slot].worker, workers[old] != nil {
                workers[old]?.phase = .stoppingAccept
                emit(.send(old, .stopAccepting))
                emit(.log(.info, "reload: old worker stops accepting", worker: old))
            } else {
                applyReload { [now] in $0.oldExited(slot: slot, now: now) }
            }
        case .killOld(let slot):
            if let old = slots[slot].worker {
                emit(.log(.error, "reload: old worker did not stop accepting in time; killing it", worker: old))
                emit(.kill(old, signal: SIGKILL))
            }
        case .spawnReplacement(let slot):
            spawnWorker(slot: slot, replacement: true)
        case .drainOld(let slot):
            let old = slots[slot].worker
            slots[slot].worker = slots[slot].replacement
            slots[slot].replacement = nil
            if slots[slot].restartAt != nil {
                slots[slot].restartAt = nil
                emit(.cancel(.restart(slot: slot)))
            }
            if let old { drain(old, closeCode: .serviceRestart) }
        case .finished:
            reload = nil
            reloadFailure = nil
            emit(.adoptConfiguration)
            finishReload(failure: nil)
        case .failed(let slot, let reason):
            reload = nil
            if let new = slots[slot].replacement {
                emit(.kill(new, signal: SIGKILL))
                slots[slot].replacement = nil
                workers[new]?.phase = .draining
            }
            if let old = slots[slot].worker {
                // It no longer accepts but still serves its clients: keep it until the slot has a
                // ready worker again (started with the configuration that worked).
                slots[slot].retained.append(old)
                slots[slot].worker = nil
            }
            slots[slot].restartAt = now + settings.retainedRestartDelay
            emit(.schedule(.restart(slot: slot), at: now + settings.retainedRestartDelay))
            finishReload(failure: reason)
        }
    }

    mutating func finishReload(failure: String?) {
        reloadsFinished += 1
        if let failure {
            reloadFailure = failure
            lastReload = failure
            emit(.log(.error, "reload failed; the old workers keep serving", metadata: ["reason": "\(failure)"]))
        } else {
            lastReload = "ok"
            emit(.log(.info, "reload done", metadata: ["workers": "\(slots.count)"]))
        }
        emit(.writeStateFile(reloadsFinished: reloadsFinished, reloading: false, lastReload: lastReload))
        emit(.notify(.ready))
        applyPendingScaling()
        if reloadPending {
            reloadPending = false
            beginReload()
        }
    }
}
