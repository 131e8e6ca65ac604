import EchoShared
import EchoSupervision
import Foundation
import Glibc
import Logging

/// What the supervisor tells systemd, its workers (the host's figures) and `echo reload`.
extension Supervisor {
    func notify(_ notification: SupervisorStateMachine.Notification) {
        switch notification {
        case .ready:
            let status = currentStatus().line
            lastStatus = status
            Systemd.notify("READY=1\nSTATUS=\(status)")
        case .reloading:
            Systemd.notify("RELOADING=1\nMONOTONIC_USEC=\(Systemd.monotonicMicroseconds())\nSTATUS=Reloading")
        case .stopping(let extend):
            if let extend {
                Systemd.notify("STOPPING=1\nEXTEND_TIMEOUT_USEC=\(extend.microseconds)\nSTATUS=\(currentStatus().line)")
            } else {
                Systemd.notify("STOPPING=1")
            }
        case .failed(let reason):
            Systemd.notify("STATUS=Failed: \(reason)")
        }
    }

    func currentStatus() -> SupervisorStatus {
        let live = processes.values.filter { machine.workers[$0.id]?.phase != .draining }
        return SupervisorStatus(
            phase: machine.statusPhase,
            readyWorkers: machine.readyWorkers,
            slots: machine.slots.count,
            connections: processes.values.reduce(0) { $0 + ($1.stats?.connections ?? 0) },
            // Rooms span workers; the largest worker count is the honest lower bound.
            rooms: live.map { $0.stats?.rooms ?? 0 }.max() ?? 0,
            restarts: machine.restartsTotal,
            reloadFailure: machine.reloadFailure,
            migrateRequestsOff: migrateRequestsOff,
            backingOff: machine.slotStates(now: .now).filter { $0.state == .backoff }
        )
    }

    /// Sends `STATUS=` when it changed (or when `force`d).
    func updateStatus(force: Bool = false) {
        let line = currentStatus().line
        guard force || line != lastStatus else { return }
        lastStatus = line
        Systemd.notify("STATUS=\(line)")
    }

    /// Tells every serving worker the whole host's figures, so that whichever worker answers
    /// `/metrics` or `/health` speaks for the host.
    func broadcastHostStats() {
        let serving = processes.values.filter { process in
            guard let worker = machine.workers[process.id] else { return false }
            return worker.phase != .draining
        }
        let stats = serving.compactMap(\.stats).sorted { ($0.slot, $0.pid) < ($1.slot, $1.pid) }
        let host = HostStats(
            supervisorPID: getpid(), workerRestarts: machine.restartsTotal, workers: stats,
            slots: machine.slotStates(now: .now)
        )
        for process in serving where machine.workers[process.id]?.becameReady == true {
            process.link.send(.host(host))
        }
    }

    var stateFilePath: String { settings.runtimeDirectory + "/" + SupervisorStateFile.fileName }

    func removeStateFile() {
        unlink(stateFilePath)
    }
}
