import EchoCore
import EchoShared
import Logging
import Metrics
import NIOCore

/// Who gets in, before a WebSocket is a room member (docs/security.md): open connections,
/// WebSocket handshakes and join attempts per client IP, counted in Redis across every worker and
/// host, and the Origin rule.
///
/// A local count of each IP's open connections on this worker refuses a flood before Redis
/// answers (more than the limit here is more than the limit anywhere) and is what this worker
/// writes to Redis: at admission, at every close and on a timer, so a crashed worker's share
/// expires like presence. When Redis cannot answer, the limits fail open (the local count still
/// holds): logged, and counted in `echo_admission_unavailable_total`.
// @unchecked: every mutable property is touched on `eventLoop` only (the worker's single loop).
final class Admission: @unchecked Sendable {
    struct Refusal: Sendable, Equatable {
        enum Reason: String, Sendable { case connections, handshakes }
        var reason: Reason
        var retryAfterMilliseconds: Int
    }

    /// What a client over the connection limit is told to wait: connections free up when others
    /// close, which the server cannot predict.
    static let connectionRetryAfterMilliseconds = 5000

    let eventLoop: EventLoop
    let store: AdmissionStore
    let limits: AdmissionLimits
    let origins: OriginPolicy
    let trustedProxies: [IPAddressRange]
    private let logger: Logger
    /// Open connections per IP on this worker, counted from their first request to their close.
    private(set) var open: [String: Int] = [:]
    /// IPs whose count changed by a close since the last write (see ``release(ip:)``).
    private var released: Set<String> = []
    private var timer: RepeatedTask?
    private var lastUnavailableLog: NIODeadline?

    init(eventLoop: EventLoop, store: AdmissionStore, configuration: EchoConfiguration, trustedProxies: [IPAddressRange], logger: Logger) {
        self.eventLoop = eventLoop
        self.store = store
        self.limits = AdmissionLimits(configuration)
        self.origins = OriginPolicy(allowed: configuration.allowedOrigins)
        self.trustedProxies = trustedProxies
        self.logger = logger
    }

    func start() {
        guard limits.maxConnections > 0 else { return }
        let every = TimeAmount.milliseconds(Int64(limits.refreshMilliseconds))
        timer = eventLoop.scheduleRepeatedTask(initialDelay: every, delay: every) { [weak self] _ in self?.refresh() }
    }

    func stop() {
        timer?.cancel()
        timer = nil
    }

    func isTrustedProxy(_ peer: String) -> Bool {
        trustedProxies.contains { $0.contains(peer) }
    }

    /// Admits a request from `ip`: when `countConnection`, the connection itself, and when
    /// `handshake`, one WebSocket handshake. Completes with nil when admitted. A counted
    /// connection, admitted or refused, stays counted until its owner calls ``release(ip:)`` when
    /// it closes (the HTTP handler, or for a WebSocket the hub: no per-connection callback, which
    /// would cost every idle socket memory).
    func admit(ip address: String, countConnection: Bool, handshake: Bool) -> EventLoopFuture<Refusal?> {
        let ip = ClientAddress.limitKey(address)
        var connections: (count: Int, max: Int, ttlMilliseconds: Int)? = nil
        if countConnection, limits.maxConnections > 0 {
            let count = open[ip, default: 0] + 1
            open[ip] = count
            if count > limits.maxConnections {
                return refused(.connections, retryAfter: Self.connectionRetryAfterMilliseconds, ip: ip)
            }
            connections = (count, limits.maxConnections, limits.connectionTTLMilliseconds)
        }
        let bucket = handshake ? limits.handshakes.map { (store.keys.handshakes(ip), $0) } : nil
        guard connections != nil || bucket != nil else { return eventLoop.makeSucceededFuture(nil) }
        return store.admit(ip: ip, connections: connections, bucket: bucket).map { outcome -> Refusal? in
            switch outcome {
            case .admitted: return nil
            case .tooManyConnections: return self.refusal(.connections, retryAfter: Self.connectionRetryAfterMilliseconds, ip: ip)
            case .rateLimited(let retryAfter): return self.refusal(.handshakes, retryAfter: retryAfter, ip: ip)
            }
        }.flatMapErrorThrowing { error in
            self.unavailable(error)
            return nil
        }
    }

    /// The join-attempt limit: nil when the join may go ahead, else the error frame to send.
    func allowJoin(ip address: String) -> EventLoopFuture<ProtocolError?> {
        guard let joins = limits.joins else { return eventLoop.makeSucceededFuture(nil) }
        let ip = ClientAddress.limitKey(address)
        return store.admit(ip: ip, connections: nil, bucket: (store.keys.joins(ip), joins)).map { outcome -> ProtocolError? in
            guard case .rateLimited(let retryAfter) = outcome else { return nil }
            Counter(label: "echo_admission_refused_total", dimensions: [("reason", "joins")]).increment()
            return ProtocolError(.rateLimited, "Too many join attempts from your address; wait a moment.", retryAfterMilliseconds: retryAfter)
        }.flatMapErrorThrowing { error in
            self.unavailable(error)
            return nil
        }
    }

    /// Whether every WebSocket was counted when it was admitted (see ``release(ip:)``).
    var countsConnections: Bool { limits.maxConnections > 0 }

    /// A counted connection of `ip` closed. The new count goes to Redis once per loop pass for
    /// all the closes of that pass (a refused flood closes thousands at once).
    func release(ip address: String) {
        let ip = ClientAddress.limitKey(address)
        let count = (open[ip] ?? 1) - 1
        open[ip] = count > 0 ? count : nil
        guard released.insert(ip).inserted, released.count == 1 else { return }
        eventLoop.assumeIsolated().execute { self.writeReleased() }
    }

    private func writeReleased() {
        let ips = released
        released.removeAll()
        for ip in ips {
            store.hold(ip: ip, count: open[ip] ?? 0, ttlMilliseconds: limits.connectionTTLMilliseconds).whenFailure { [logger] error in
                // The count heals at the next refresh or close; a lost 0 expires with the TTL.
                logger.debug("connection count not written", metadata: ["ip": "\(ip)", "error": "\(error)"])
            }
        }
    }

    /// Keeps this worker's counts alive in Redis (and corrects any write that was lost).
    private func refresh() {
        for (ip, count) in open {
            store.hold(ip: ip, count: count, ttlMilliseconds: limits.connectionTTLMilliseconds).whenFailure { _ in }
        }
    }

    private func refusal(_ reason: Refusal.Reason, retryAfter: Int, ip: String) -> Refusal {
        Counter(label: "echo_admission_refused_total", dimensions: [("reason", reason.rawValue)]).increment()
        logger.debug("refused", metadata: ["ip": "\(ip)", "reason": "\(reason.rawValue)"])
        return Refusal(reason: reason, retryAfterMilliseconds: retryAfter)
    }

    private func refused(_ reason: Refusal.Reason, retryAfter: Int, ip: String) -> EventLoopFuture<Refusal?> {
        eventLoop.makeSucceededFuture(refusal(reason, retryAfter: retryAfter, ip: ip))
    }

    /// Redis could not answer: the limit fails open. Logged at most every 10 s.
    private func unavailable(_ error: Error) {
        Counter(label: "echo_admission_unavailable_total").increment()
        let now = NIODeadline.now()
        if let last = lastUnavailableLog, now - last < .seconds(10) { return }
        lastUnavailableLog = now
        logger.warning("per-IP limits not checked (Redis unavailable); admitting", metadata: ["error": "\(error)"])
    }
}
