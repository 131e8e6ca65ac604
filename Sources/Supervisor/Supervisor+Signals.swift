import Glibc
import Logging

extension Supervisor {
    func handle(signal: Int32) {
        let now = ContinuousClock.now
        switch signal {
        case SIGCHLD:
            for (pid, status) in ProcessSpawner.reap() { childExited(pid: pid, status: status, now: now) }
        case SIGTERM:
            if case .stopping = phase, !fastStop {
                logger.notice("second SIGTERM: fast stop")
                beginFastStop(now: now)
            } else {
                logger.notice("SIGTERM: draining")
                beginStop(closeCode: .goingAway, exitCode: 0, now: now)
            }
        case SIGINT, SIGQUIT:
            logger.notice("\(signal == SIGINT ? "SIGINT" : "SIGQUIT"): fast stop")
            beginFastStop(now: now)
        case SIGHUP:
            logger.notice("SIGHUP: rolling reload")
            beginReload(now: now)
        case SIGTTIN:
            addWorkerSlot(now: now)
        case SIGTTOU:
            removeWorkerSlot(now: now)
        default:
            // SIGPIPE: writes use MSG_NOSIGNAL; a stray one is harmless.
            break
        }
    }
}
