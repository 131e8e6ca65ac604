import EchoSupervision
import Glibc
import Logging

extension Supervisor {
    /// SIGTTIN: one more slot, with its own socket in the `SO_REUSEPORT` group.
    func addWorkerSlot(now: ContinuousClock.Instant) {
        guard phase == .serving || phase == .starting, !socketsClosed else {
            logger.warning("SIGTTIN while stopping is ignored")
            return
        }
        guard slots.count < WorkerCount.maximum else {
            logger.warning("SIGTTIN: already at the maximum of \(WorkerCount.maximum) workers")
            return
        }
        do {
            try addSlotSocket()
        } catch {
            logger.error("SIGTTIN: cannot open another socket: \(error)")
            return
        }
        settings.workers = slots.count
        logger.notice("SIGTTIN: adding a worker", metadata: ["slot": "\(slots.count - 1)", "workers": "\(slots.count)"])
        spawnOrBackOff(slot: slots.count - 1, now: now)
    }

    /// SIGTTOU: one slot fewer. Its worker drains (1001, clients reconnect to the others) and its
    /// socket closes; without `net.ipv4.tcp_migrate_req=1` the kernel resets the connections still
    /// queued on it instead of moving them to the other sockets.
    func removeWorkerSlot(now: ContinuousClock.Instant) {
        guard phase == .serving || phase == .starting, !socketsClosed else {
            logger.warning("SIGTTOU while stopping is ignored")
            return
        }
        guard slots.count > 1 else {
            logger.warning("SIGTTOU: one worker is the minimum")
            return
        }
        guard reload == nil else {
            logger.warning("SIGTTOU during a reload is ignored; send it again afterwards")
            return
        }
        let slot = slots.removeLast()
        settings.workers = slots.count
        logger.notice("SIGTTOU: removing a worker", metadata: ["slot": "\(slot.index)", "workers": "\(slots.count)"])
        for pid in [slot.worker, slot.replacement].compactMap({ $0 }) + slot.retained {
            if workers[pid]?.becameReady == true {
                drain(pid: pid, closeCode: .goingAway, now: now)
            } else {
                // Not serving anybody yet: closing its link makes it exit at once.
                workers[pid]?.link.close()
            }
        }
        if !slot.socket.isShared { slot.socket.close() }
        // The removed slot may have been the last one the start was waiting for.
        declareReadyIfAllSlotsAre(now: now)
        updateStatus(force: true)
    }
}
