import EchoShared
import Logging
import NIOCore
import NIOPosix

/// A self-healing Redis connection: connects (over TLS for `rediss://`), logs in, and reconnects
/// with back-off and jitter. While it is down, commands fail at once with
/// ``RedisError/Kind-swift.enum/unavailable`` instead of queueing, so callers can tell their
/// clients to retry.
// @unchecked: all mutable state lives on `eventLoop` (every entry point hops there or asserts it).
public final class RedisClient: @unchecked Sendable {
    public let endpoint: RedisEndpoint
    /// How a `rediss://` Redis is verified; `nil` for plain `redis://` and unix sockets.
    public let tls: RedisTLS?
    public let eventLoop: EventLoop
    let isSubscriber: Bool
    let timeout: TimeAmount
    var logger: Logger

    private enum State {
        case idle
        case connecting
        case connected(RedisConnection)
        case waiting(Scheduled<Void>)
        case shutDown
    }

    private var state = State.idle
    private var attempt = 0
    private var scriptHashes: [String: String] = [:]
    private var timer: RepeatedTask?
    private var lastActivity = NIODeadline.now()
    /// How many times the connection was lost and made again.
    public private(set) var reconnects = 0
    private var everConnected = false
    /// Why the last connection or attempt failed, while there is no connection (for `/health`).
    public private(set) var lastError: String?

    /// Scripts loaded on every new connection (SCRIPT LOAD), before commands flow.
    public var scripts: [RedisScript] = []
    /// Runs after login on every new connection, before commands flow (resubscribe, for example).
    var prepare: ((RedisConnection) -> EventLoopFuture<Void>)?
    /// Told `true` when a connection is ready and `false` when it is lost.
    var onAvailabilityChange: ((Bool) -> Void)?
    var onPush: ((RESPValue) -> Void)?
    var onReadComplete: (() -> Void)?
    /// Asked before every connection attempt where to connect (under Sentinel: the primary the
    /// Sentinels name now); nil: always ``endpoint``. The answer carries the credentials to use.
    var resolveEndpoint: (() -> EventLoopFuture<RedisEndpoint>)?
    /// Whether a node must say it is the primary (`ROLE`) before commands flow.
    var requiresPrimary = false
    /// What ``resolveEndpoint`` named for the current connection or the last attempt.
    public private(set) var resolvedEndpoint: RedisEndpoint?
    /// Moves on each ``reconnect(because:)``: an attempt begun before it is not used.
    private var generation = 0

    public init(
        endpoint: RedisEndpoint, tls: RedisTLS? = nil, eventLoop: EventLoop, timeout: TimeAmount, logger: Logger,
        isSubscriber: Bool = false
    ) {
        precondition(endpoint.usesTLS == (tls != nil), "a rediss:// endpoint needs its TLS settings, a plain one none")
        self.endpoint = endpoint
        self.tls = tls
        self.eventLoop = eventLoop
        self.timeout = timeout
        self.logger = logger
        self.isSubscriber = isSubscriber
    }

    /// The node connected to or tried last.
    private var node: RedisEndpoint { resolvedEndpoint ?? endpoint }
    /// ``node`` for logs; a client that follows Sentinels has none until they named one.
    private var nodeText: String {
        resolveEndpoint != nil && resolvedEndpoint == nil ? "(not named yet)" : node.description
    }

    public var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    public func start() {
        eventLoop.execute {
            guard case .idle = self.state else { return }
            self.connect()
            // One timer checks every command's age, instead of one timer per command.
            let interval = TimeAmount.nanoseconds(max(self.timeout.nanoseconds / 4, 10_000_000))
            self.timer = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.checkHealth()
            }
        }
    }

    public func shutdown() {
        eventLoop.execute {
            self.timer?.cancel()
            switch self.state {
            case .connected(let connection): connection.close()
            case .waiting(let scheduled): scheduled.cancel()
            default: break
            }
            self.state = .shutDown
        }
    }

    /// Drops the connection, or the wait before the next attempt, and connects again at once:
    /// the primary moved (a `+switch-master`), and this connection may lead to the old one.
    func reconnect(because why: String) {
        eventLoop.execute {
            self.generation += 1
            self.attempt = 0
            switch self.state {
            case .connected(let connection):
                // Not a loss to wait out with back-off: the new primary is up.
                connection.onClose = nil
                connection.fail(RedisError(.unavailable, why))
                connection.channel.close(promise: nil)
                self.logger.warning("redis connection dropped", metadata: ["redis": "\(self.nodeText)", "why": "\(why)"])
                self.lastError = why
                // The owners hear of it as of any loss (a subscriber catches its rooms up).
                self.onAvailabilityChange?(false)
                self.connect()
            case .waiting(let scheduled):
                scheduled.cancel()
                self.connect()
            case .connecting, .idle, .shutDown:
                // A connecting attempt sees the generation moved when it completes.
                break
            }
        }
    }

    /// Sends `command`, or fails at once with `.unavailable` while there is no connection.
    public func send(_ command: RESPCommand) -> EventLoopFuture<RESPValue> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.send(command) }
        }
        guard case .connected(let connection) = state else {
            return eventLoop.makeFailedFuture(RedisError(.unavailable, "Redis is not connected"))
        }
        lastActivity = .now()
        return connection.send(command)
    }

    /// Sends `command` expecting no reply of its own: on a subscriber connection, `SUNSUBSCRIBE`'s
    /// confirmation arrives as a push, like the ones Redis sends unasked when a slot moves.
    /// Returns whether it went out (false while there is no connection).
    func sendWithoutReply(_ command: RESPCommand) -> Bool {
        eventLoop.assertInEventLoop()
        guard case .connected(let connection) = state else { return false }
        connection.sendWithoutReply(command)
        return true
    }

    /// Runs a typed script call (``RedisScriptCall``) with EVALSHA, falling back to EVAL when
    /// Redis does not know the script; the reply is the call's own decoding of what Redis sent.
    public func run<Call: RedisScriptCall>(_ call: Call) -> EventLoopFuture<Call.Response> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.run(call) }
        }
        let script = Call.script
        let keys = call.keys
        let arguments = call.arguments
        @Sendable func command(_ verb: String, _ scriptOrHash: String) -> RESPCommand {
            var words: [RESPArgument] = [.string(verb), .string(scriptOrHash), .integer(keys.count)]
            words.reserveCapacity(3 + keys.count + arguments.count)
            for key in keys { words.append(.string(key)) }
            words.append(contentsOf: arguments)
            return RESPCommand(words)
        }
        let reply: EventLoopFuture<RESPValue>
        if let sha = scriptHashes[script.name] {
            reply = send(command("EVALSHA", sha)).flatMapError { error in
                // Redis restarted or SCRIPT FLUSH: its cache is empty. EVAL runs the script and
                // caches it again under the same hash, so the next call's EVALSHA works.
                guard let redisError = error as? RedisError, redisError.isNoScript else {
                    return self.eventLoop.makeFailedFuture(error)
                }
                return self.send(command("EVAL", script.source))
            }
        } else {
            // Unknown yet: EVAL runs it and caches it in Redis; learn the hash in the background.
            send(RESPCommand("SCRIPT", "LOAD", .string(script.source))).whenSuccess { value in
                if let sha = value.string { self.scriptHashes[script.name] = sha }
            }
            reply = send(command("EVAL", script.source))
        }
        return reply.flatMapThrowing { try call.decode($0) }
    }

    private func connect() {
        state = .connecting
        let target = resolveEndpoint?() ?? eventLoop.makeSucceededFuture(endpoint)
        target.flatMap { target -> EventLoopFuture<(RedisConnection, Int)> in
            if self.resolveEndpoint != nil { self.resolvedEndpoint = target }
            let generation = self.generation
            return Self.open(target, tls: self.tls, on: self.eventLoop, timeout: self.timeout, isSubscriber: self.isSubscriber, logger: self.logger) { connection in
                connection.onPush = { self.onPush?($0) }
                connection.onReadComplete = { self.onReadComplete?() }
                return self.login(connection, to: target).flatMap {
                    self.loadScripts(connection)
                }.flatMap {
                    self.prepare?(connection) ?? self.eventLoop.makeSucceededVoidFuture()
                }
            }.map { connection, _ in (connection, generation) }
        }.whenComplete { result in
            switch result {
            case .success(let (connection, generation)):
                guard case .connecting = self.state else {
                    connection.close()
                    return
                }
                guard generation == self.generation else {
                    // Begun before the primary moved: it may have reached the old one.
                    connection.close()
                    self.state = .idle
                    self.connect()
                    return
                }
                self.connected(connection)
            case .failure(let error):
                self.lost(error)
            }
        }
    }

    /// Opens a connection to `endpoint` and runs `setUp` on it (log in, load scripts, ask a
    /// question) before handing both over; gives up after `timeout` if Redis stops answering on
    /// the way.
    static func open<Ready: Sendable>(
        _ endpoint: RedisEndpoint, tls: RedisTLS?, on eventLoop: EventLoop, timeout: TimeAmount, isSubscriber: Bool, logger: Logger,
        setUp: @escaping @Sendable (RedisConnection) -> EventLoopFuture<Ready>
    ) -> EventLoopFuture<(RedisConnection, Ready)> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(TLSHandler.client(context: tls.context, serverName: tls.serverName(for: endpoint), logger: logger))
                    }
                    try pipeline.addHandler(RedisChannelHandler(expectsTLS: tls != nil))
                }
            }
        let connected: EventLoopFuture<Channel>
        switch endpoint.address {
        case .tcp(let host, let port):
            connected = bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1).connect(host: host, port: port)
        case .unix(let path):
            connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connected.flatMap { channel -> EventLoopFuture<(RedisConnection, Ready)> in
            let connection = RedisConnection(channel: channel, isSubscriber: isSubscriber)
            let handler: RedisChannelHandler
            do {
                handler = try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self)
            } catch {
                channel.close(promise: nil)
                return eventLoop.makeFailedFuture(error)
            }
            handler.connection = connection
            // A Redis that accepts but never answers (paused, hung, a black-holed link, a plain
            // Redis behind rediss:// waiting for the rest of a "command") would keep this attempt
            // waiting forever: the health check only watches a connected state.
            let milliseconds = timeout.nanoseconds / 1_000_000
            let deadline = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                handler.abandon(because: "no answer within \(milliseconds) ms")
                channel.close(promise: nil)
            }
            // The password goes out only once Redis's certificate and name verified.
            return handler.secured.flatMap {
                setUp(connection)
            }.map { (connection, $0) }.flatMapErrorThrowing { error in
                connection.close()
                throw error
            }.always { _ in
                deadline.cancel()
            }
        }
    }

    private func login(_ connection: RedisConnection, to target: RedisEndpoint) -> EventLoopFuture<Void> {
        var steps: [EventLoopFuture<RESPValue>] = []
        if let password = target.password {
            if let user = target.username {
                steps.append(connection.send(RESPCommand("AUTH", .string(user), .string(password))))
            } else {
                steps.append(connection.send(RESPCommand("AUTH", .string(password))))
            }
        }
        if target.database != 0 {
            steps.append(connection.send(RESPCommand("SELECT", .integer(target.database))))
        }
        // Named so an operator (and a test) can tell Echo's command and pub/sub connections apart.
        steps.append(connection.send(RESPCommand("CLIENT", "SETNAME", isSubscriber ? "echo-subscriber" : "echo-worker")))
        let loggedIn = EventLoopFuture.andAllSucceed(steps, on: eventLoop)
        guard requiresPrimary else { return loggedIn }
        // A primary the Sentinels demoted (or a replica they have not promoted yet) must never
        // take writes: drop it and ask again.
        return loggedIn.flatMap {
            connection.send(RESPCommand("ROLE"))
        }.flatMapThrowing { reply in
            let role = reply.array?.first?.string ?? "?"
            guard role == "master" else {
                throw RedisError(.unavailable, "\(target.addressText) is not the primary (ROLE: \(role))")
            }
        }
    }

    /// Loads every known script on a new connection, so the first call of each is an EVALSHA.
    private func loadScripts(_ connection: RedisConnection) -> EventLoopFuture<Void> {
        let loads = scripts.map { script in
            connection.send(RESPCommand("SCRIPT", "LOAD", .string(script.source))).map { reply in
                if let sha = reply.string { self.scriptHashes[script.name] = sha }
            }
        }
        return EventLoopFuture.andAllSucceed(loads, on: eventLoop)
    }

    private func connected(_ connection: RedisConnection) {
        if everConnected {
            reconnects += 1
            logger.info("redis reconnected", metadata: ["redis": "\(nodeText)", "subscriber": "\(isSubscriber)"])
        } else {
            logger.info("redis connected", metadata: ["redis": "\(nodeText)", "subscriber": "\(isSubscriber)"])
        }
        everConnected = true
        lastError = nil
        attempt = 0
        lastActivity = .now()
        state = .connected(connection)
        connection.onClose = { error in
            self.eventLoop.execute { self.lost(error, connection: connection) }
        }
        onAvailabilityChange?(true)
    }

    private func lost(_ error: Error, connection: RedisConnection? = nil) {
        let reason = Self.reason(for: error, endpoint: node)
        switch state {
        case .shutDown, .waiting:
            return
        case .connected(let current):
            guard connection == nil || connection === current else { return }
            logger.warning("redis connection lost", metadata: ["redis": "\(nodeText)", "error": "\(reason)"])
            onAvailabilityChange?(false)
        case .connecting, .idle:
            if attempt == 0 || attempt % 10 == 0 {
                logger.warning("redis connect failed", metadata: ["redis": "\(nodeText)", "error": "\(reason)", "attempt": "\(attempt)"])
            }
        }
        lastError = reason
        let delay = ReconnectBackoff.delay(attempt: attempt, jitter: Double.random(in: -1...1))
        attempt += 1
        state = .waiting(eventLoop.scheduleTask(in: delay) { self.connect() })
    }

    /// Drops a connection on which a command waits while Redis has sent nothing for the timeout
    /// (a hung or lost Redis), and pings an idle one so a silently dead peer is noticed. Silence is
    /// what counts, not a command's age: under overload this event loop reads replies late, and
    /// that must not be mistaken for a dead Redis (it would fail every pending chat).
    private func checkHealth() {
        guard case .connected(let connection) = state else { return }
        let now = NIODeadline.now()
        if let waited = connection.silentWait(now: now), waited > timeout {
            logger.warning("redis command timed out; reconnecting", metadata: ["redis": "\(nodeText)", "waitedMs": "\(waited.nanoseconds / 1_000_000)"])
            connection.fail(RedisError(.timeout, "no reply within \(timeout.nanoseconds / 1_000_000) ms"))
            connection.channel.close(promise: nil)
            return
        }
        if now - lastActivity > .seconds(5), connection.pendingCount == 0 {
            lastActivity = now
            _ = connection.send(RESPCommand("PING"))
        }
    }
}
