import EchoShared
import EchoSupervision
import Glibc

/// The supervisor's own settings (the workers' live in ``EchoConfiguration``), resolved once from
/// flags, environment and defaults by ``ServeCommand``.
struct SupervisorSettings {
    var workers: Int
    /// Longest graceful stop: past it, workers still draining are killed.
    var drainTimeout: Duration
    /// Window over which a worker spreads its WebSocket closes, so clients do not all reconnect at once.
    var drainWindow: Duration
    var heartbeatInterval: Duration = .seconds(1)
    /// Silence after which a ready worker counts as hung.
    var heartbeatTimeout: Duration
    /// Time a new worker has to report ready.
    var startTimeout: Duration
    /// Time between `SIGABRT` and `SIGKILL` for a hung worker.
    var killGrace: Duration = .seconds(2)
    var workerBinary: String
    var redisServer: String
    var envFile: String?
    var runtimeDirectory: String
    var stateDirectory: String
    /// Time between new TLS session-ticket keys.
    var ticketKeyRotation: Duration = TicketKeyRotation.defaultInterval
}

extension Duration {
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    var microseconds: UInt64 { UInt64(max(0, milliseconds)) * 1000 }
}
