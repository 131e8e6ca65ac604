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
        let tls = self.tls
        let logger = self.logger
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if let tls {
                        try pipeline.addHandler(TLSHandler.client(context: tls.context, serverName: tls.serverName, logger: logger))
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
        connected.flatMap { channel -> EventLoopFuture<RedisConnection> in
            let connection = RedisConnection(channel: channel, isSubscriber: self.isSubscriber)
            let handler: RedisChannelHandler
            do {
                handler = try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self)
            } catch {
                channel.close(promise: nil)
                return self.eventLoop.makeFailedFuture(error)
            }
            handler.connection = connection
            // A Redis that accepts but never answers (paused, hung, a black-holed link, a plain
            // Redis behind rediss:// waiting for the rest of a "command") would keep this attempt
            // waiting forever: the health check only watches a connected state.
            let milliseconds = self.timeout.nanoseconds / 1_000_000
            let deadline = self.eventLoop.assumeIsolated().scheduleTask(in: self.timeout) {
                handler.abandon(because: "no answer within \(milliseconds) ms")
                channel.close(promise: nil)
            }
            connection.onPush = { self.onPush?($0) }
            connection.onReadComplete = { self.onReadComplete?() }
            // The password goes out only once Redis's certificate and name verified.
            return handler.secured.flatMap {
                self.login(connection)
            }.flatMap {
                self.loadScripts(connection)
            }.flatMap {
                self.prepare?(connection) ?? self.eventLoop.makeSucceededVoidFuture()
            }.map { connection }.flatMapErrorThrowing { error in
                connection.close()
                throw error
            }.always { _ in
                deadline.cancel()
            }
        }.whenComplete { result in
            switch result {
            case .success(let connection):
                guard case .connecting = self.state else {
                    connection.close()
                    return
                }
                self.connected(connection)
            case .failure(let error):
                self.lost(error)
            }
        }
    }

    private func login(_ connection: RedisConnection) -> EventLoopFuture<Void> {
        var steps: [EventLoopFuture<RESPValue>] = []
        if let password = endpoint.password {
            if let user = endpoint.username {
                steps.append(connection.send(RESPCommand("AUTH", .string(user), .string(password))))
            } else {
                steps.append(connection.send(RESPCommand("AUTH", .string(password))))
            }
        }
        if endpoint.database != 0 {
            steps.append(connection.send(RESPCommand("SELECT", .integer(endpoint.database))))
        }
        // Named so an operator (and a test) can tell Echo's command and pub/sub connections apart.
        steps.append(connection.send(RESPCommand("CLIENT", "SETNAME", isSubscriber ? "echo-subscriber" : "echo-worker")))
        return EventLoopFuture.andAllSucceed(steps, on: eventLoop)
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
            logger.info("redis reconnected", metadata: ["redis": "\(endpoint)", "subscriber": "\(isSubscriber)"])
        } else {
            logger.info("redis connected", metadata: ["redis": "\(endpoint)", "subscriber": "\(isSubscriber)"])
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
        let reason = Self.reason(for: error, endpoint: endpoint)
        switch state {
        case .shutDown, .waiting:
            return
        case .connected(let current):
            guard connection == nil || connection === current else { return }
            logger.warning("redis connection lost", metadata: ["redis": "\(endpoint)", "error": "\(reason)"])
            onAvailabilityChange?(false)
        case .connecting, .idle:
            if attempt == 0 || attempt % 10 == 0 {
                logger.warning("redis connect failed", metadata: ["redis": "\(endpoint)", "error": "\(reason)", "attempt": "\(attempt)"])
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
            logger.warning("redis command timed out; reconnecting", metadata: ["redis": "\(endpoint)", "waitedMs": "\(waited.nanoseconds / 1_000_000)"])
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
