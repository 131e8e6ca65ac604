import EchoShared
import Logging
import NIOCore

/// Sharded pub/sub on a Redis Cluster: one subscriber connection per primary, each channel
/// `SSUBSCRIBE`d on the primary that owns its slot, reference-counted like ``RedisSubscriber``.
///
/// It follows ``RedisCluster``'s slot map. A channel can stop being delivered three ways: its
/// primary's connection drops, the map says its slot moved, or the primary pushes `sunsubscribe`
/// (the slot left it: a migration or a failover). Each time the channel goes back to pending,
/// ``onLost`` fires, and once it is confirmed on its (new) owner ``onResubscribed`` fires, so the
/// hub replays the gap from the stream exactly as after a single Redis's reconnect. Channels on
/// the other primaries stay active throughout; ``onResubscribed`` also fires right after
/// ``onLost`` so that their rooms are caught up (one read) and go live at once.
// @unchecked: all mutable state lives on `cluster.eventLoop` (entry points assert or hop there).
public final class ShardedSubscriber: RedisPubSub, @unchecked Sendable {
    private enum Subscription {
        case pending(EventLoopPromise<Void>)
        case active
    }

    private struct Entry {
        var count: Int
        var subscription: Subscription
        /// The primary (`host:port`) the channel is subscribed or being subscribed on.
        var node: String?
        /// An `SSUBSCRIBE` for it waits for its reply.
        var inFlight = false
        /// It was active and was lost: its confirmation calls ``onResubscribed``.
        var wasLost = false

        var isActive: Bool {
            if case .active = subscription { return true }
            return false
        }
    }

    public let cluster: RedisCluster
    private let logger: Logger
    private var channels: [String: Entry] = [:]
    /// One subscriber connection per primary, by `host:port`.
    private var nodes: [String: RedisClient] = [:]
    /// `SUNSUBSCRIBE`s sent, per node and channel, whose confirmation (a push) has not come yet.
    private var ownUnsubscribes: [String: [String: Int]] = [:]
    private var retiredReconnects = 0
    private var retryScheduled = false
    private var isShutDown = false

    public var onMessage: ((_ channel: ByteBuffer, _ payload: ByteBuffer) -> Void)?
    public var onBatchEnd: (() -> Void)?
    public var onResubscribed: (() -> Void)?
    public var onLost: (() -> Void)?

    public init(cluster: RedisCluster, logger: Logger) {
        self.cluster = cluster
        self.logger = logger
    }

    public var eventLoop: EventLoop { cluster.eventLoop }
    public var channelCount: Int { channels.count }

    public var isConnected: Bool {
        !nodes.isEmpty && nodes.values.allSatisfy(\.isConnected)
    }

    public var reconnects: Int {
        nodes.values.reduce(retiredReconnects) { $0 + $1.reconnects }
    }

    public var lastError: String? {
        nodes.sorted { $0.key < $1.key }.first { !$0.value.isConnected && $0.value.lastError != nil }.map { "\($0.key): \($0.value.lastError ?? "")" }
    }

    /// Channels held per primary (for `/health`).
    public var channelsByNode: [String: Int] {
        var counts: [String: Int] = [:]
        for address in nodes.keys { counts[address] = 0 }
        for entry in channels.values { if let node = entry.node { counts[node, default: 0] += 1 } }
        return counts
    }

    /// Whether the subscriber connection to the primary at `address` is up.
    public func isConnected(_ address: String) -> Bool {
        nodes[address]?.isConnected == true
    }

    public func isActive(_ channel: String) -> Bool {
        guard let entry = channels[channel], case .active = entry.subscription, let node = entry.node else { return false }
        return nodes[node]?.isConnected == true
    }

    public func start() {
        eventLoop.execute {
            self.cluster.observeTopology { [weak self] map in self?.follow(map) }
        }
    }

    public func shutdown() {
        eventLoop.execute {
            self.isShutDown = true
            for client in self.nodes.values { client.shutdown() }
        }
    }

    public func subscribe(_ channel: String) -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        if var entry = channels[channel] {
            entry.count += 1
            channels[channel] = entry
            switch entry.subscription {
            case .active: return eventLoop.makeSucceededVoidFuture()
            case .pending(let promise): return promise.futureResult
            }
        }
        let promise = eventLoop.makePromise(of: Void.self)
        let owner = cluster.map?.primary(forSlot: RedisSlot.of(channel))?.address
        channels[channel] = Entry(count: 1, subscription: .pending(promise), node: owner)
        guard let owner, let client = nodes[owner], client.isConnected else {
            // As with a single Redis that is down: the join fails now (and its client retries);
            // the entry stays and is subscribed once the owner's connection is up.
            failPending(channel, RedisError(.unavailable, "Redis Cluster node for \(channel) is not connected"))
            return promise.futureResult
        }
        send(subscribe: channel, on: owner, client: client)
        return promise.futureResult
    }

    public func unsubscribe(_ channel: String) {
        eventLoop.assertInEventLoop()
        guard var entry = channels[channel] else { return }
        entry.count -= 1
        if entry.count > 0 {
            channels[channel] = entry
            return
        }
        channels[channel] = nil
        if case .pending(let promise) = entry.subscription {
            promise.fail(RedisError(.unavailable, "unsubscribed before the subscription completed"))
        }
        // If this cannot go out the connection is gone, and a new one will not subscribe it.
        if let node = entry.node, let client = nodes[node], client.sendWithoutReply(RESPCommand("SUNSUBSCRIBE", .string(channel))) {
            ownUnsubscribes[node, default: [:]][channel, default: 0] += 1
        }
    }

    // MARK: Subscribing

    private func send(subscribe channel: String, on node: String, client: RedisClient) {
        channels[channel]?.inFlight = true
        client.send(RESPCommand("SSUBSCRIBE", .string(channel))).whenComplete { result in
            // Moved to another node or dropped meanwhile: this reply is about the past.
            guard let entry = self.channels[channel], entry.node == node, entry.inFlight else { return }
            self.channels[channel]?.inFlight = false
            switch result {
            case .success:
                self.confirmed(channel)
            case .failure(let error):
                self.failPending(channel, error)
                if ClusterRedirect(error, sender: client.endpoint.host ?? "") != nil {
                    // The map is stale: read it again and try once it is.
                    self.cluster.refresh(because: "SSUBSCRIBE redirected")
                    self.scheduleRetry()
                }
            }
        }
    }

    private func confirmed(_ channel: String) {
        guard var entry = channels[channel], case .pending(let promise) = entry.subscription else { return }
        let replay = entry.wasLost
        entry.subscription = .active
        entry.wasLost = false
        channels[channel] = entry
        promise.succeed()
        if replay {
            // After this channel is marked active, so the round's guard lets it run.
            eventLoop.execute { self.onResubscribed?() }
        }
    }

    /// Fails whoever waits for `channel` now; it stays pending, with a new promise for later callers.
    private func failPending(_ channel: String, _ error: Error) {
        guard var entry = channels[channel], case .pending(let promise) = entry.subscription else { return }
        entry.subscription = .pending(eventLoop.makePromise())
        channels[channel] = entry
        promise.fail(error)
    }

    /// Sends `SSUBSCRIBE` for every pending channel whose owner's connection is up.
    private func subscribePending() {
        for (channel, entry) in channels where !entry.inFlight {
            guard case .pending = entry.subscription, let node = entry.node, let client = nodes[node], client.isConnected else { continue }
            send(subscribe: channel, on: node, client: client)
        }
    }

    private func scheduleRetry() {
        guard !retryScheduled, !isShutDown else { return }
        retryScheduled = true
        eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(250)) {
            self.retryScheduled = false
            self.subscribePending()
        }
    }

    /// `channels` can no longer be trusted to deliver: back to pending, and the hub told.
    private func lose(_ lost: [String]) {
        guard !lost.isEmpty else { return }
        for channel in lost {
            guard var entry = channels[channel] else { continue }
            if case .active = entry.subscription { entry.subscription = .pending(eventLoop.makePromise()) }
            entry.wasLost = true
            entry.inFlight = false
            channels[channel] = entry
        }
        onLost?()
        // Rooms on the other primaries are still delivered: their catch-up can run now.
        eventLoop.execute { self.onResubscribed?() }
    }

    // MARK: Topology

    /// A new slot map: a connection per primary, and every channel on its slot's owner.
    private func follow(_ map: ClusterSlotMap) {
        guard !isShutDown else { return }
        let primaries = map.primaries
        for primary in primaries where nodes[primary.address] == nil {
            addNode(host: primary.host, port: primary.port)
        }
        let wanted = Set(primaries.map(\.address))
        for (address, client) in nodes where !wanted.contains(address) {
            retiredReconnects += client.reconnects
            client.shutdown()
            nodes[address] = nil
            ownUnsubscribes[address] = nil
        }
        var lost: [String] = []
        for (channel, entry) in channels {
            let owner = map.primary(forSlot: RedisSlot.of(channel))?.address
            guard entry.node != owner else { continue }
            if case .active = entry.subscription { lost.append(channel) }
            channels[channel]?.node = owner
            channels[channel]?.inFlight = false
        }
        if !lost.isEmpty {
            logger.info("redis cluster moved rooms' channels; resubscribing on their new primaries", metadata: ["channels": "\(lost.count)"])
        }
        lose(lost)
        subscribePending()
    }

    private func addNode(host: String, port: Int) {
        let address = ClusterSlotMap.Node.address(host: host, port: port)
        var endpoint = cluster.seeds[0]
        endpoint.address = .tcp(host: host, port: port)
        let client = RedisClient(endpoint: endpoint, tls: cluster.tls, eventLoop: eventLoop, timeout: cluster.timeout, logger: logger, isSubscriber: true)
        // Weak: a reconnect may still be in flight when the subscriber is released.
        client.onPush = { [weak self] value in self?.received(value, from: address) }
        client.onReadComplete = { [weak self] in self?.onBatchEnd?() }
        client.onAvailabilityChange = { [weak self] available in
            guard let self, !available else { return }
            self.lose(self.channels.filter { $0.value.node == address && $0.value.isActive }.map(\.key))
            self.cluster.refresh(because: "subscriber connection to \(address) lost")
        }
        client.prepare = { [weak self] connection in
            self?.resubscribe(on: address, connection) ?? connection.eventLoop.makeSucceededVoidFuture()
        }
        nodes[address] = client
        client.start()
    }

    private func received(_ value: RESPValue, from node: String) {
        guard let parts = value.array, parts.count == 3, let kind = parts[0].buffer, let channel = parts[1].buffer else { return }
        if let payload = parts[2].buffer {
            onMessage?(channel, payload)
            return
        }
        guard kind.readableBytesView.elementsEqual("sunsubscribe".utf8) else { return }
        let name = String(buffer: channel)
        if let own = ownUnsubscribes[node]?[name], own > 0 {
            ownUnsubscribes[node]?[name] = own > 1 ? own - 1 : nil
            return
        }
        // Redis dropped the subscription itself: the slot left this node (migrated, or the node
        // is a replica now).
        guard let entry = channels[name], entry.node == node, entry.isActive else { return }
        logger.info("redis unsubscribed a room's channel (its slot moved); resubscribing", metadata: ["channel": "\(name)", "node": "\(node)"])
        lose([name])
        cluster.refresh(because: "sunsubscribe from \(node)")
        scheduleRetry()
    }

    /// On every new connection to `node`: its channels again, before the connection is usable.
    /// A channel the node refuses (its slot moved) does not fail the connection: it stays pending
    /// and the map is read again.
    private func resubscribe(on node: String, _ connection: RedisConnection) -> EventLoopFuture<Void> {
        ownUnsubscribes[node] = nil
        let wanted = channels.filter { $0.value.node == node }.map(\.key)
        guard !wanted.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        for channel in wanted { channels[channel]?.inFlight = true }
        let confirmations = wanted.map { channel in
            connection.send(RESPCommand("SSUBSCRIBE", .string(channel))).map { _ in (channel, true) }.recover { _ in (channel, false) }
        }
        return EventLoopFuture.whenAllSucceed(confirmations, on: eventLoop).map { results in
            var refused = false
            var anyConfirmed = false
            for (channel, ok) in results {
                guard let entry = self.channels[channel], entry.node == node, entry.inFlight else { continue }
                self.channels[channel]?.inFlight = false
                guard ok else {
                    refused = true
                    continue
                }
                guard case .pending(let promise) = entry.subscription else { continue }
                self.channels[channel]?.subscription = .active
                self.channels[channel]?.wasLost = false
                promise.succeed()
                anyConfirmed = true
            }
            if refused {
                self.cluster.refresh(because: "SSUBSCRIBE refused on \(node)")
                self.scheduleRetry()
            }
            // After the connection is marked usable, so a replay may send commands.
            if anyConfirmed { self.eventLoop.execute { self.onResubscribed?() } }
        }
    }
}
