import EchoShared
import Logging

/// `SIGTTIN` / `SIGTTOU`: one slot more or fewer. During a reload the change waits for the reload
/// to end, so a new slot gets the configuration the reload settles on and a reload never loses the
/// slot it is replacing.
extension SupervisorStateMachine {
    mutating func scaleUp() {
        guard isAcceptingCommands else {
            emit(.log(.warning, "SIGTTIN while stopping is ignored"))
            return
        }
        guard slots.count + max(0, pendingScaling) < settings.maximumSlots else {
            emit(.log(.warning, "SIGTTIN: already at the maximum of \(settings.maximumSlots) workers"))
            return
        }
        if isReloading {
            pendingScaling += 1
            emit(.log(.notice, "SIGTTIN during a reload: the worker is added once the reload is over"))
            return
        }
        emit(.openSlot)
    }

    mutating func slotOpened() {
        let index = slots.count
        slots.append(Slot(index: index, restarts: SlotRestartTracker(policy: settings.restartPolicy)))
        emit(.log(.notice, "SIGTTIN: adding a worker", metadata: ["slot": "\(index)", "workers": "\(slots.count)"]))
        spawnWorker(slot: index)
        emit(.updateStatus(force: true))
    }

    /// Its workers drain with ``CloseCode/goingAway`` (clients reconnect to the other slots) and its socket closes;
    /// without `net.ipv4.tcp_migrate_req=1` the kernel resets the connections still queued on it.
    mutating func scaleDown() {
        guard isAcceptingCommands else {
            emit(.log(.warning, "SIGTTOU while stopping is ignored"))
            return
        }
        guard slots.count + min(0, pendingScaling) > 1 else {
            emit(.log(.warning, "SIGTTOU: one worker is the minimum"))
            return
        }
        if isReloading {
            pendingScaling -= 1
            emit(.log(.notice, "SIGTTOU during a reload: the worker is removed once the reload is over"))
            return
        }
        let slot = slots.removeLast()
        emit(.log(.notice, "SIGTTOU: removing a worker", metadata: ["slot": "\(slot.index)", "workers": "\(slots.count)"]))
        if slot.restartAt != nil { emit(.cancel(.restart(slot: slot.index))) }
        for id in [slot.worker, slot.replacement].compactMap({ $0 }) + slot.retained { dismiss(id) }
        emit(.closeSlot(slot.index))
        // The removed slot may have been the last one the start was waiting for.
        declareReadyIfAllSlotsAre()
        emit(.updateStatus(force: true))
    }

    /// Scaling asked for during a reload, now that it is over.
    mutating func applyPendingScaling() {
        let change = pendingScaling
        pendingScaling = 0
        for _ in 0..<abs(change) {
            if change > 0 { scaleUp() } else { scaleDown() }
        }
    }
}
