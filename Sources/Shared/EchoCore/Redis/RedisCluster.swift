import EchoShared
import Logging
import NIOCore

/// Redis Cluster behind ``RedisCommands``: one pipelined ``RedisClient`` per primary, each command
/// sent to the primary that owns its key's slot (``ClusterSlotMap``, read with `CLUSTER SHARDS`).
///
/// - `MOVED`: the map is patched, a refresh is asked for, and the command goes to the named node.
/// - `ASK`: `ASKING` and the command, pipelined on the target's connection; the map stays.
/// - `TRYAGAIN`/`CLUSTERDOWN`: resent after 25 ms doubling, ``ClusterRedirect/retryLimit`` times,
///   then `.unavailable` (the callers' clients retry, as with a single Redis that is down).
/// - A primary that is unreachable fails its slots' commands at once with `.unavailable` (as a
///   single Redis that is down does) and has the map read again, so a promoted replica is found.
/// - Scripts are loaded on every node's connection; `NOSCRIPT` is handled by each ``RedisClient``.
///
/// The map is read at start, every ``refreshInterval``, and on every error that suggests it is
/// stale (a `MOVED`, a lost primary); changes are logged.
// @unchecked: all mutable state lives on `eventLoop` (every entry point hops there or asserts it).
public final class RedisCluster: RedisCommands, @unchecked Sendable {
    /// One shard as `/health` shows it.
    public struct ShardStatus: Sendable, Equatable {
        public var slots: String
        public var primary: String?
        public var replicas: [String]
        public var connected: Bool
    }

    public let seeds: [RedisEndpoint]
    public let tls: RedisTLS?
    public let eventLoop: EventLoop
    let timeout: TimeAmount
    var logger: Logger
    /// Scripts every node's connection loads before commands flow.
    public var scripts: [RedisScript] = []
    public var refreshInterval = TimeAmount.seconds(5)

    /// The slot map as last read (nil until the first read succeeds).
    public private(set) var map: ClusterSlotMap?
    /// When the map was last read successfully.
    public private(set) var lastRefresh: NIODeadline?
    /// One command connection per primary (and, until the first map, per seed), by `host:port`.
    private var clients: [String: RedisClient] = [:]
    /// Reconnects of connections to nodes that stopped being primaries.
    private var retiredReconnects = 0
    private var refreshing = false
    private var refreshAgain = false
    private var lastRefreshAttempt = NIODeadline.uptimeNanoseconds(0)
    private var refreshError: String?
    private var timer: RepeatedTask?
    private var isShutDown = false
    private var observers: [(ClusterSlotMap) -> Void] = []
    private var failoverObservers: [([ClusterSlotMap.Shard]) -> Void] = []

    public init(seeds: [RedisEndpoint], tls: RedisTLS? = nil, eventLoop: EventLoop, timeout: TimeAmount, logger: Logger) {
        precondition(!seeds.isEmpty, "a cluster needs at least one seed node")
        self.seeds = seeds
        self.tls = tls
        self.eventLoop = eventLoop
        self.timeout = timeout
        self.logger = logger
    }

    // MARK: RedisCommands

    public var isConnected: Bool {
        guard let map, !map.primaries.isEmpty, map.coversAllSlots else { return false }
        return map.primaries.allSatisfy { clients[$0.address]?.isConnected == true }
    }

    public var reconnects: Int {
        clients.values.reduce(retiredReconnects) { $0 + $1.reconnects }
    }

    /// Whether some primary takes commands now (``isConnected`` needs all of them): while one
    /// shard fails over, the rooms of the others still chat.
    public var isPartlyConnected: Bool {
        guard let map else { return false }
        return map.primaries.contains { clients[$0.address]?.isConnected == true }
    }

    public var lastError: String? {
        if let refreshError { return refreshError }
        let down = clients.sorted { $0.key < $1.key }.first { !$0.value.isConnected && $0.value.lastError != nil }
        return down.map { "\($0.key): \($0.value.lastError ?? "")" }
    }

    public func start() {
        eventLoop.execute {
            guard !self.isShutDown, self.timer == nil else { return }
            for seed in self.seeds {
                guard case .tcp(let host, let port) = seed.address else { continue }
                _ = self.client(host: host, port: port)
            }
            // Every second while a primary is unreachable (a failover promotes its replica within
            // the cluster's node timeout), every refreshInterval otherwise.
            self.timer = self.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
                let due = self.lastRefresh.map { NIODeadline.now() - $0 >= self.refreshInterval } ?? true
                if due || !self.isConnected { self.refresh(because: due ? "periodic" : "a primary is unreachable") }
            }
        }
    }

    public func shutdown() {
        eventLoop.execute {
            self.isShutDown = true
            self.timer?.cancel()
            for client in self.clients.values { client.shutdown() }
        }
    }

    public func send(_ command: RESPCommand, routedBy key: String?) -> EventLoopFuture<RESPValue> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.send(command, routedBy: key) }
        }
        return execute(slot: key.map(RedisSlot.of)) { $0.send(command) }
    }

    public func run<Call: RedisScriptCall>(_ call: Call) -> EventLoopFuture<Call.Response> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.run(call) }
        }
        let slot = call.keys.first.map(RedisSlot.of)
        assert(call.keys.allSatisfy { RedisSlot.of($0) == slot }, "\(Call.script.name)'s keys span several slots: \(call.keys)")
        return execute(slot: slot) { $0.run(call) }
    }

    // MARK: Routing

    /// Sends through `operation` to the owner of `slot` (or to `target`), following redirects.
    private func execute<T: Sendable>(
        slot: Int?, target: String? = nil, asking: Bool = false, redirects: Int = 0, retries: Int = 0,
        _ operation: @escaping @Sendable (RedisClient) -> EventLoopFuture<T>
    ) -> EventLoopFuture<T> {
        guard let client = target.flatMap({ clients[$0] }) ?? client(forSlot: slot) else {
            refresh(because: "no node for slot \(slot.map(String.init) ?? "any")")
            return eventLoop.makeFailedFuture(RedisError(.unavailable, "no Redis Cluster node serves slot \(slot.map(String.init) ?? "any")"))
        }
        if asking { _ = client.send(RESPCommand("ASKING")) }
        let sender = client.endpoint.host ?? ""
        return operation(client).flatMapError { error in
            guard let redirect = ClusterRedirect(error, sender: sender) else {
                if let error = error as? RedisError, error.kind == .unavailable, !client.isConnected {
                    self.refresh(because: "a primary is unreachable")
                }
                return self.eventLoop.makeFailedFuture(error)
            }
            switch redirect {
            case .moved(let movedSlot, let host, let port), .ask(let movedSlot, let host, let port):
                guard redirects < ClusterRedirect.redirectLimit else {
                    return self.eventLoop.makeFailedFuture(RedisError(.unavailable, "too many redirects for slot \(movedSlot): \(error)"))
                }
                let isMoved: Bool
                if case .moved = redirect { isMoved = true } else { isMoved = false }
                if isMoved {
                    self.map = self.map?.moving(movedSlot, to: host, port: port)
                    self.refresh(because: "MOVED")
                }
                let next = self.client(host: host, port: port)
                let address = ClusterSlotMap.Node.address(host: host, port: port)
                return self.connected(next).flatMap {
                    self.execute(slot: movedSlot, target: address, asking: !isMoved, redirects: redirects + 1, retries: retries, operation)
                }
            case .retryLater:
                guard retries + 1 < ClusterRedirect.retryLimit else {
                    return self.eventLoop.makeFailedFuture(RedisError(.unavailable, "Redis Cluster busy: \(error)"))
                }
                let delay = TimeAmount.milliseconds(ClusterRedirect.retryDelayMilliseconds(attempt: retries))
                return self.eventLoop.flatScheduleTask(in: delay) {
                    self.execute(slot: slot, redirects: redirects, retries: retries + 1, operation)
                }.futureResult
            }
        }
    }

    /// The connection for `slot`'s primary; with no slot (or no map yet) any connected one.
    private func client(forSlot slot: Int?) -> RedisClient? {
        if let slot, let map {
            return map.primary(forSlot: slot).flatMap { clients[$0.address] }
        }
        let primaries = map?.primaries.compactMap { clients[$0.address] } ?? []
        return primaries.first(where: \.isConnected) ?? clients.values.first(where: \.isConnected) ?? primaries.first ?? clients.values.first
    }

    /// The connection to a node named `host:port` (`[v6]:port`).
    private func client(address: String) -> RedisClient? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return nil }
        var host = address[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return client(host: String(host), port: port)
    }

    /// The connection to `host:port`, made (and started) the first time.
    private func client(host: String, port: Int) -> RedisClient {
        let address = ClusterSlotMap.Node.address(host: host, port: port)
        if let existing = clients[address] { return existing }
        var endpoint = seeds[0]
        endpoint.address = .tcp(host: host, port: port)
        let client = RedisClient(endpoint: endpoint, tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger)
        client.scripts = scripts
        client.onAvailabilityChange = { [weak self] available in
            guard let self else { return }
            if !available {
                self.refresh(because: "connection to \(address) lost")
            } else if self.map == nil {
                self.refresh(because: "first connection")
            } else if !self.isPartlyConnected {
                self.refresh(because: "\(address) answers while no known primary does")
            }
        }
        clients[address] = client
        client.start()
        return client
    }

    /// Completes when `client` is connected, or after the timeout (then the command fails fast).
    private func connected(_ client: RedisClient) -> EventLoopFuture<Void> {
        guard !client.isConnected else { return eventLoop.makeSucceededVoidFuture() }
        let promise = eventLoop.makePromise(of: Void.self)
        let deadline = NIODeadline.now() + timeout
        func check() {
            if client.isConnected || NIODeadline.now() >= deadline {
                promise.succeed()
            } else {
                eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(5)) { check() }
            }
        }
        check()
        return promise.futureResult
    }

    // MARK: Topology

    /// Calls `observer` on the event loop with every new map (the sharded subscriber follows it).
    public func observeTopology(_ observer: @escaping (ClusterSlotMap) -> Void) {
        eventLoop.assertInEventLoop()
        observers.append(observer)
        if let map { observer(map) }
    }

    /// Calls `observer` on the event loop with the shards whose replica took over (``ClusterSlotMap/promotedReplicas(since:)``).
    public func observeFailovers(_ observer: @escaping ([ClusterSlotMap.Shard]) -> Void) {
        eventLoop.assertInEventLoop()
        failoverObservers.append(observer)
    }

    /// Reads the slot map again (from any connected node); requests during a read are folded
    /// into one more read after it, and reads are at least 100 ms apart.
    public func refresh(because reason: String) {
        guard eventLoop.inEventLoop else {
            eventLoop.execute { self.refresh(because: reason) }
            return
        }
        guard !isShutDown else { return }
        if refreshing {
            refreshAgain = true
            return
        }
        let sinceLast = NIODeadline.now() - lastRefreshAttempt
        if sinceLast < .milliseconds(100) {
            refreshing = true
            eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100) - sinceLast) {
                self.refreshing = false
                self.refresh(because: reason)
            }
            return
        }
        let source = ClusterMapSource.choose(
            primaries: map?.primaries.map(\.address) ?? [], open: Array(clients.keys),
            connected: Set(clients.filter { $0.value.isConnected }.keys),
            seeds: seeds.compactMap { seed in
                guard case .tcp(let host, let port) = seed.address else { return nil }
                return ClusterSlotMap.Node.address(host: host, port: port)
            },
            replicas: map?.shards.flatMap(\.replicas).map(\.address) ?? [])
        guard case .ask(let address) = source, let node = clients[address] else {
            refreshError = map == nil ? "no Redis Cluster node reachable (seeds: \(seeds.map(\.hostAndPort).joined(separator: ",")))" : nil
            if case .dial(let nodes) = source, !nodes.isEmpty {
                // Every known node is silent: they may all have moved. The seeds (and replicas)
                // may know where to; the first to connect is asked (onAvailabilityChange).
                logger.warning("no known redis cluster node answers; trying the seeds and replicas", metadata: ["nodes": "\(nodes.joined(separator: ","))"])
                for node in nodes { _ = client(address: node) }
            }
            return
        }
        refreshing = true
        lastRefreshAttempt = .now()
        logger.debug("reading the redis cluster's slot map", metadata: ["reason": "\(reason)", "node": "\(node.endpoint.hostAndPort)"])
        let tls = self.tls != nil
        node.send(RESPCommand("CLUSTER", "SHARDS")).flatMapThrowing { try ClusterSlotMap(shardsReply: $0, tls: tls) }.whenComplete { result in
            self.refreshing = false
            switch result {
            case .success(let map):
                self.apply(map)
            case .failure(let error):
                self.logger.warning("cannot read the redis cluster's slot map", metadata: ["node": "\(node.endpoint.hostAndPort)", "error": "\(error)"])
                if self.map == nil { self.refreshError = "cannot read the slot map: \(error)" }
            }
            if self.refreshAgain {
                self.refreshAgain = false
                self.refresh(because: "requested during a read")
            }
        }
    }

    private func apply(_ new: ClusterSlotMap) {
        guard !new.primaries.isEmpty else {
            logger.warning("the redis cluster reports no primary; keeping the previous slot map")
            return
        }
        let old = map
        map = new
        lastRefresh = .now()
        refreshError = nil
        for primary in new.primaries { _ = client(host: primary.host, port: primary.port) }
        let wanted = Set(new.primaries.map(\.address))
        for (address, client) in clients where !wanted.contains(address) {
            retiredReconnects += client.reconnects
            client.shutdown()
            clients[address] = nil
        }
        if old.map(Self.layout) != Self.layout(new) {
            logger.info("redis cluster topology", metadata: [
                "shards": "\(Self.layout(new))", "coversAllSlots": "\(new.coversAllSlots)",
            ])
        }
        if old != new {
            for observer in observers { observer(new) }
        }
        let promoted = old.map(new.promotedReplicas(since:)) ?? []
        if !promoted.isEmpty {
            logger.warning("redis cluster failover: a replica took over; writes its primary acknowledged last may be lost", metadata: [
                "shards": "\(promoted.map { "\(ClusterSlotMap.describe($0.ranges))@\($0.primary?.address ?? "none")" }.joined(separator: " "))",
            ])
            for observer in failoverObservers { observer(promoted) }
        }
    }

    /// `0-5460@127.0.0.1:7000 5461-10922@…`: what a topology change log line shows.
    private static func layout(_ map: ClusterSlotMap) -> String {
        map.shards.filter { !$0.ranges.isEmpty }.map { "\(ClusterSlotMap.describe($0.ranges))@\($0.primary?.address ?? "none")" }.joined(separator: " ")
    }

    /// Every shard, its slots, primary, replicas and whether its connection is up (for `/health`).
    public var shardStatus: [ShardStatus] {
        (map?.shards ?? []).filter { !$0.ranges.isEmpty }.map { shard in
            ShardStatus(
                slots: ClusterSlotMap.describe(shard.ranges), primary: shard.primary?.address,
                replicas: shard.replicas.map { "\($0.address) (\($0.health))" },
                connected: shard.primary.flatMap { clients[$0.address]?.isConnected } ?? false)
        }
    }
}
