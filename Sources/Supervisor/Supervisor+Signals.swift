import EchoShared
import Glibc
import Logging

extension Supervisor {
    /// Signals, as the machine's events.
    func handle(signal: Int32) {
        switch signal {
        case SIGCHLD:
            for (pid, status) in ProcessSpawner.reap() { childExited(pid: pid, status: status) }
        case SIGTERM:
            feed(.stop)
        case SIGINT, SIGQUIT:
            logger.notice("\(signal == SIGINT ? "SIGINT" : "SIGQUIT"): fast stop")
            feed(.fastStop)
        case SIGHUP:
            logger.notice("SIGHUP: rolling reload")
            feed(.reloadRequested)
        case SIGTTIN:
            feed(.scaleUp)
        case SIGTTOU:
            feed(.scaleDown)
        default:
            // SIGPIPE: writes use MSG_NOSIGNAL; a stray one is harmless.
            break
        }
    }
}
