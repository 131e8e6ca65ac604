import EchoShared
import EchoSupervision
import Foundation
import Glibc
import Logging

extension Supervisor {
    func currentStatus() -> SupervisorStatus {
        let live = workers.values.filter { $0.state != .draining }
        let ready = slots.filter { slot in slot.worker.flatMap { workers[$0] }?.state == .ready }.count
        let statusPhase: SupervisorStatus.Phase
        switch phase {
        case .starting: statusPhase = .starting
        case .serving: statusPhase = reload?.machine.currentSlot.map { .reloading(slot: $0) } ?? .serving
        case .stopping, .stoppingRedis: statusPhase = .stopping
        }
        return SupervisorStatus(
            phase: statusPhase,
            readyWorkers: ready,
            slots: slots.count,
            connections: workers.values.reduce(0) { $0 + ($1.stats?.connections ?? 0) },
            // Rooms span workers; the largest worker count is the honest lower bound.
            rooms: live.map { $0.stats?.rooms ?? 0 }.max() ?? 0,
            restarts: restartsTotal,
            reloadFailure: reloadFailure,
            migrateRequestsOff: migrateRequestsOff,
            backingOff: slotStates(now: .now).filter { $0.state == .backoff }
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
        let stats = workers.values
            .filter { $0.state != .draining }
            .compactMap { $0.stats }
            .sorted { ($0.slot, $0.pid) < ($1.slot, $1.pid) }
        let host = HostStats(supervisorPID: getpid(), workerRestarts: restartsTotal, workers: stats, slots: slotStates(now: .now))
        for worker in workers.values where worker.becameReady && worker.state != .draining {
            worker.link.send(.host(host))
        }
    }

    var stateFilePath: String { settings.runtimeDirectory + "/" + SupervisorStateFile.fileName }

    func writeStateFile(reloading: Bool = false, lastReload: String? = nil) {
        var previous = "none"
        if let text = try? String(contentsOfFile: stateFilePath, encoding: .utf8),
           let state = SupervisorStateFile(contents: text) {
            previous = state.lastReload
        }
        let state = SupervisorStateFile(
            pid: getpid(), reloadsFinished: reloadsFinished, reloading: reloading, lastReload: lastReload ?? previous
        )
        Filesystem.writeAtomically(stateFilePath, contents: state.contents)
    }

    func removeStateFile() {
        unlink(stateFilePath)
    }
}
