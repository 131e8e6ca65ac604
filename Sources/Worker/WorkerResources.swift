import EchoCore
import EchoShared
import EchoTLS
import NIOCore
import Prometheus

/// What the HTTP side of a worker reads: its hub, its metrics registry, the web client and the
/// host's figures from the supervisor. (Not a state machine's state: the worker's shared parts.)
// @unchecked: mutable state (`host`) is touched on the worker's single event loop only.
final class WorkerResources: @unchecked Sendable {
    let hub: ChatHub
    let registry: PrometheusCollectorRegistry
    let assets: StaticAssets?
    let slot: Int
    let pid: Int32
    /// The certificate and ticket keys of the chat port when it serves TLS: built once per
    /// worker, shared by every connection; the control channel hands it new ticket keys.
    let tls: TLSServerContext?
    /// The public listener's connections while they speak HTTP (a drain lets their requests finish).
    let tracker: ConnectionTracker
    var metrics = WorkerMetrics()
    /// The whole host, as last reported by the supervisor; nil when this worker runs alone.
    var host: HostStats?

    init(hub: ChatHub, registry: PrometheusCollectorRegistry, assets: StaticAssets?, slot: Int, pid: Int32, tls: TLSServerContext? = nil) {
        self.hub = hub
        self.registry = registry
        self.assets = assets
        self.slot = slot
        self.pid = pid
        self.tls = tls
        self.tracker = ConnectionTracker(eventLoop: hub.eventLoop)
    }

    func stats() -> WorkerStats {
        hub.stats(slot: slot, pid: pid)
    }

    /// Pushes the hot-path counters into swift-metrics.
    func publishMetrics() {
        let s = stats()
        metrics.publish(hub.counters, connections: s.connections, rooms: s.rooms, redisConnected: s.redisConnected, reconnects: s.redisReconnects)
    }

    /// Every worker of the host: the supervisor's latest view with this worker's own figures fresh.
    func hostWorkers() -> [WorkerStats] {
        let mine = stats()
        guard let host else { return [mine] }
        return host.workers.filter { $0.pid != pid } + [mine]
    }
}
