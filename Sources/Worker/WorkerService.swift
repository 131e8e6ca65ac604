import EchoCore
import EchoShared
import EchoTLS
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import Prometheus
import ServiceLifecycle

/// One worker process: Redis connections, the hub, the listening socket and (under a supervisor)
/// the control channel, all on one event loop. It runs until a drain is requested (SIGTERM when
/// alone, a `drain` message under `echo`), drains, and returns.
final class WorkerService: Service {
    struct Settings: Sendable {
        var configuration: EchoConfiguration
        var listenFD: Int32?
        var controlFD: Int32?
        var redirectFD: Int32?
        var slot: Int
        var heartbeat: TimeAmount
        var drainWindow: TimeAmount
        /// How a `rediss://` Redis is verified (`nil`: plain Redis).
        var redisTLS: RedisTLS?
    }

    private let settings: Settings
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger

    init(settings: Settings, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.settings = settings
        self.registry = registry
        self.logger = logger
    }

    func run() async throws {
        let configuration = settings.configuration
        let logger = self.logger
        if settings.controlFD != nil { try LinuxCalls.setParentDeathSignal() }
        let tls = try Self.loadTLS(configuration, logger: logger)

        // One thread: workers scale by process, and a single loop keeps fan-out free of locks.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let topology = try RedisTopology(url: configuration.effectiveRedisURL)
        if !topology.usesTLS, configuration.redisCAPath != nil || configuration.redisTLSServerName != nil {
            // Whoever set them expects TLS: say plainly that this Redis traffic is not encrypted.
            logger.warning("ECHO_REDIS_CA and ECHO_REDIS_TLS_SERVER_NAME apply to rediss:// only; this Redis connection is not encrypted", metadata: ["redis": "\(topology)"])
        }
        let timeout = TimeAmount.milliseconds(Int64(configuration.redisTimeoutMilliseconds))
        let redis = try RedisSetup(
            topology: topology, tls: settings.redisTLS, sentinelPassword: configuration.redisSentinelPassword,
            eventLoop: loop, timeout: timeout, logger: logger)
        let hub = ChatHub(eventLoop: loop, store: RoomStore(redis: redis.commands, keys: RoomKeys(layout: RoomKeys.layout(for: topology)), configuration: configuration), redis: redis, configuration: configuration, logger: logger)

        var assets: StaticAssets? = nil
        if let root = StaticAssets.locateRoot(configured: configuration.webRoot) {
            do {
                assets = try StaticAssets(root: root)
            } catch {
                logger.error("web client not loaded", metadata: ["root": "\(root)", "error": "\(error)"])
            }
        } else {
            logger.warning("no web client folder found; serving the API only (set ECHO_WEB_ROOT)")
        }
        let resources = WorkerResources(hub: hub, registry: registry, assets: assets, slot: settings.slot, pid: getpid(), tls: tls)

        redis.start()
        loop.execute {
            hub.start()
            hub.admission.start()
        }
        // Accept only once able to chat: wait for Redis (bounded, so a worker whose Redis is down
        // still starts and reports itself unhealthy instead of failing the whole service). During
        // a rolling reload the old worker has stopped accepting, so connections wait in the
        // socket's backlog meanwhile; accepted earlier, a join could meet a Redis connection that
        // was not up yet and get UNAVAILABLE.
        _ = try? await Self.waitForRedis(hub: hub, on: loop, timeout: .seconds(5)).get()

        let drain = DrainRequest(eventLoop: loop)
        // The control link starts before the listeners: a TLS worker takes the supervisor's ticket
        // keys (sent at spawn, already waiting in the pipe) before its first handshake, so every
        // ticket it issues resumes on every worker. `.stopAccepting` closes the listeners once
        // they exist.
        let listening = loop.makePromise(of: [Channel].self)
        let firstTicketKeys = loop.makePromise(of: Void.self)
        var control: SupervisorLink? = nil
        if let fd = settings.controlFD {
            let link = SupervisorLink(logger: logger)
            try await link.start(fd: fd, group: group) { message in
                loop.execute {
                    switch message {
                    case .stopAccepting:
                        // Both sockets go to the slot's next worker: neither may still accept then.
                        listening.futureResult.flatMap { channels in
                            EventLoopFuture.whenAllComplete(channels.map { $0.close() }, on: loop)
                        }.whenComplete { _ in link.send(.stoppedAccepting) }
                    case .drain(let code, let window):
                        drain.request(code: code, window: .milliseconds(Int64(window)))
                    case .host(let stats):
                        resources.host = stats
                    case .ticketKeys(let keys):
                        // The supervisor's keys, the same in every worker: a ticket resumes on any of them.
                        resources.tls?.setTicketKeys(keys)
                        firstTicketKeys.succeed()
                    case .ready, .heartbeat, .stoppedAccepting, .drained:
                        break
                    }
                }
            }
            control = link
            if tls != nil {
                // Bounded: a supervisor that sends none leaves the worker on its own key (tickets
                // then resume on this worker only), which is better than not serving.
                loop.scheduleTask(in: .seconds(2)) { firstTicketKeys.succeed() }
                try? await firstTicketKeys.futureResult.get()
            }
        }
        firstTicketKeys.succeed()

        let server: Channel
        do {
            server = try await ChatServer.start(
                group: group, resources: resources, configuration: configuration, inheritedSocket: settings.listenFD)
        } catch {
            // Port taken, socket unusable: stop what started, then fail with a clear message.
            logger.critical("cannot listen", metadata: ["error": "\(error)", "port": "\(configuration.port)"])
            listening.fail(error)
            // Nothing will drain this worker: settle the request so no promise is left unfulfilled.
            drain.request(code: .goingAway, window: .zero)
            await Self.stop(hub: hub, redis: redis, group: group)
            throw error
        }
        // Metrics and the detailed health, away from the public port. A worker that cannot bind
        // it still serves chat (and says so in its log): losing metrics must not take chat down.
        var admin: Channel? = nil
        if let address = AdminAddress(configuration.adminListen) {
            do {
                admin = try await ChatServer.startAdmin(group: group, resources: resources, address: address)
            } catch {
                logger.error("cannot listen for admin requests", metadata: ["error": "\(error)", "address": "\(configuration.adminListen)"])
            }
        }
        // Plain HTTP sent on to https (and ACME challenges). Like the admin listener, a worker that
        // cannot bind it still serves chat.
        let redirect: Channel?
        if let port = configuration.httpRedirectPort {
            do {
                redirect = try await RedirectServer.start(
                    group: group, configuration: configuration, port: port, inheritedSocket: settings.redirectFD, logger: logger)
            } catch {
                logger.error("cannot listen for plain HTTP to redirect", metadata: ["error": "\(error)", "port": "\(port)"])
                redirect = nil
            }
        } else {
            redirect = nil
        }
        listening.succeed([server] + (redirect.map { [$0] } ?? []))
        if let link = control {
            link.send(.ready(pid: getpid()))
            let heartbeat = settings.heartbeat
            loop.execute {
                _ = loop.scheduleRepeatedTask(initialDelay: heartbeat, delay: heartbeat) { _ in
                    resources.publishMetrics()
                    link.send(.heartbeat(resources.stats()))
                }
            }
        }
        logger.info("worker ready", metadata: [
            "address": "\(server.localAddress.map { "\($0)" } ?? "?")", "redis": "\(topology)",
            "admin": "\(admin?.localAddress.map { "\($0)" } ?? "off")",
            "redirect": "\(redirect?.localAddress.map { "\($0)" } ?? "off")",
            "supervised": "\(settings.controlFD != nil)",
        ])

        let window = settings.drainWindow
        let (code, drainWindow) = try await withGracefulShutdownHandler {
            try await drain.requested.get()
        } onGracefulShutdown: {
            drain.request(code: .goingAway, window: window)
        }

        logger.info("draining", metadata: ["closeCode": "\(code)", "windowMs": "\(drainWindow.nanoseconds / 1_000_000)"])
        // WebSockets close with the code over the window; HTTP requests already accepted are
        // answered first (an exit would reset them), bounded like the WebSockets' own grace.
        try? await loop.flatSubmit {
            server.close().flatMapError { _ in loop.makeSucceededVoidFuture() }.flatMap {
                hub.drain(code: code, window: drainWindow)
                    .and(resources.tracker.quiesce(within: drainWindow + .seconds(2)))
                    .map { _ in }
            }
        }.get()
        control?.send(.drained)
        try? await admin?.close()
        try? await redirect?.close()
        await Self.stop(hub: hub, redis: redis, group: group)
        logger.info("worker stopped")
    }
}

extension WorkerService {
    /// The chat port's TLS context when `ECHO_TLS_CERT` is set, built before anything else starts:
    /// a worker that cannot load its certificate serves nothing and exits with the reason (the
    /// supervisor checked the files already, so this means they changed under it).
    static func loadTLS(_ configuration: EchoConfiguration, logger: Logger) throws -> TLSServerContext? {
        guard let certificate = configuration.tlsCertificatePath else { return nil }
        // Without ECHO_TLS_KEY the key is looked for in the certificate's own PEM file.
        let key = configuration.tlsKeyPath ?? certificate
        do {
            let context = try TLSServerContext(
                certificateChain: certificate, privateKey: key, clientCA: configuration.tlsClientCAPath,
                compactRecords: configuration.tlsRecords == "compact")
            logger.info("serving TLS", metadata: [
                "subject": "\(context.certificate.subject)", "serial": "\(context.certificate.serial)",
                "notAfter": "\(context.certificate.notAfter)", "clientCA": "\(configuration.tlsClientCAPath ?? "off")",
                "records": "\(configuration.tlsRecords)",
            ])
            return context
        } catch {
            logger.critical("cannot load the TLS certificate", metadata: ["error": "\(error)", "certificate": "\(certificate)", "key": "\(key)"])
            throw error
        }
    }

    /// Stops the timers and both Redis connections on the loop, then the loop itself.
    static func stop(hub: ChatHub, redis: RedisSetup, group: MultiThreadedEventLoopGroup) async {
        try? await hub.eventLoop.submit {
            hub.stop()
            hub.admission.stop()
            redis.shutdown()
        }.get()
        try? await group.shutdownGracefully()
    }

    /// Completes once both Redis connections are up, or after `timeout` (never fails).
    static func waitForRedis(hub: ChatHub, on loop: EventLoop, timeout: TimeAmount) -> EventLoopFuture<Void> {
        let deadline = NIODeadline.now() + timeout
        let promise = loop.makePromise(of: Void.self)
        loop.execute {
            func check() {
                // The authorship secret too: a join accepted before it is read gets no author.
                if hub.redisConnected && hub.connectionConfiguration.authors.current != nil || NIODeadline.now() >= deadline {
                    promise.succeed()
                } else {
                    loop.assumeIsolated().scheduleTask(in: .milliseconds(20)) { check() }
                }
            }
            check()
        }
        return promise.futureResult
    }
}

/// The one-shot request to drain, from a signal or from the supervisor, whichever comes first.
// @unchecked: `done` is touched only on `eventLoop`.
final class DrainRequest: @unchecked Sendable {
    private let eventLoop: EventLoop
    private let promise: EventLoopPromise<(CloseCode, TimeAmount)>
    private var done = false

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        promise = eventLoop.makePromise()
    }

    var requested: EventLoopFuture<(CloseCode, TimeAmount)> { promise.futureResult }

    func request(code: CloseCode, window: TimeAmount) {
        eventLoop.execute {
            guard !self.done else { return }
            self.done = true
            self.promise.succeed((code, window))
        }
    }
}
