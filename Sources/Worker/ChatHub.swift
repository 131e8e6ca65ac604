import EchoCore
import EchoShared
import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// The rooms that have members on this worker, and the fan-out from Redis to their sockets.
///
/// A worker runs one event loop: every connection, both Redis connections and this hub live on it,
/// so fan-out is plain method calls (no locks, no actor hop per message). A message from Redis
/// becomes one frame buffer, written to every member, and each member is flushed once per batch
/// of messages that Redis delivered in one read.
// @unchecked: every property is touched on `eventLoop` only (the worker's single event loop).
final class ChatHub: @unchecked Sendable {
    final class LocalRoom: SpreadScheduled {
        let id: String
        var members: [ObjectIdentifier: ChatConnectionHandler] = [:]
        /// Set while the room's live feed is interrupted or being caught up (``RoomRecovery``).
        var recovery: Recovery?
        /// ``ChatHub/outages`` when each joining member was added: a join that an outage overlapped
        /// holds live messages with a hole in them.
        var outageAtAdd: [ObjectIdentifier: Int] = [:]
        /// Its presence refresh turn (``presence``).
        var spreadPlace = SpreadPlace()
        init(id: String) {
            self.id = id
        }
    }

    final class Recovery {
        /// Each frame with the features a member needs to be sent it (``StoredMessage/requires``).
        var held = HeldMessages<(frame: ByteBuffer, requires: ChatFeatures)>()
        /// Joined members not caught up yet.
        var pending: Set<ObjectIdentifier> = []
        var roundInFlight = false
        var attempt = 0
        var retry: Scheduled<Void>?
        let startedAt = NIODeadline.now()
        /// Redis's data epoch when the feed broke: a round that finds another one tells everyone.
        var expectedEpoch: String?
        /// Tell every member (`recovered:false`) whatever the epoch says: the shard failed over.
        var forceReset = false
        init(expectedEpoch: String?) {
            self.expectedEpoch = expectedEpoch
        }
    }

    let eventLoop: EventLoop
    let store: RoomStore
    let subscriber: any RedisPubSub
    /// What `REDIS_URL` named, and in cluster mode the router (``RedisSetup``).
    let redis: RedisSetup
    let configuration: EchoConfiguration
    let logger: Logger
    /// What every connection's ``ChatConnectionStateMachine`` reads; one instance for all.
    let connectionConfiguration: ChatConnectionStateMachine.Configuration
    let trustedProxies: [IPAddressRange]
    /// Per-IP limits and the Origin rule (docs/security.md).
    let admission: Admission

    private(set) var rooms: [String: LocalRoom] = [:]
    /// Every open WebSocket of this worker, each at the tick of the ping timer that pings it.
    private(set) var connections: SpreadSchedule<ChatConnectionHandler>
    private var toFlush: [ChatConnectionHandler] = []
    var counters = WorkerCounters()
    let joinDeadlines = JoinDeadlines()
    private var timers: [RepeatedTask] = []
    private(set) var draining = false
    /// How many times the pub/sub connection was lost: a round or a join that spans a change saw
    /// a feed with a hole in it.
    var outages = 0
    /// Redis's data epoch as last read (``RoomKeys/dataEpoch``); nil until the first read.
    var knownEpoch: String?
    /// Whose presence each tick of the presence timer refreshes.
    private var presence: PresenceSchedule
    /// Tick 0 of ``presence``.
    private var presenceStart = NIODeadline.now()
    /// Rooms joined since the last presence tick, marked in the active-rooms index with that
    /// tick's slice: one call per tick, not one more round trip per join.
    private var joinedSinceTick: Set<String> = []
    /// Tick 0 of ``connections``' ping timer.
    private var pingStart = NIODeadline.now()

    init(eventLoop: EventLoop, store: RoomStore, redis: RedisSetup, configuration: EchoConfiguration, logger: Logger) {
        self.eventLoop = eventLoop
        self.store = store
        self.redis = redis
        self.subscriber = redis.subscriber
        self.configuration = configuration
        self.logger = logger
        self.connectionConfiguration = ChatConnectionStateMachine.Configuration(configuration)
        self.trustedProxies = configuration.trustedProxies.compactMap(IPAddressRange.init)
        self.presence = PresenceSchedule(timing: .init(presenceTTLSeconds: configuration.presenceTTLSeconds))
        let pingTiming = SpreadSchedule<ChatConnectionHandler>.Timing(period: .seconds(Int64(configuration.pingIntervalSeconds)))
        self.connections = SpreadSchedule(timing: pingTiming, firstTurnAfter: pingTiming.ticksPerPeriod / 2)
        self.admission = Admission(eventLoop: eventLoop, store: AdmissionStore(redis: store.redis, keys: store.keys, instance: String(UInt64.random(in: 0...UInt64.max), radix: 36)), configuration: configuration, trustedProxies: trustedProxies, logger: logger)
        // Weak: the subscriber's connection outlives the hub when a worker fails to start.
        subscriber.onMessage = { [weak self] channel, payload in self?.received(channel: channel, payload: payload) }
        subscriber.onBatchEnd = { [weak self] in self?.flush() }
        subscriber.onLost = { [weak self] in self?.subscriptionLost() }
        subscriber.onResubscribed = { [weak self] in self?.resubscribed() }
    }

    func start() {
        // One timer per worker for all pings, instead of one per connection; each tick pings
        // the connections whose turn it is (``SpreadSchedule``).
        pingStart = .now()
        timers.append(eventLoop.scheduleRepeatedTask(initialDelay: connections.timing.tick, delay: connections.timing.tick) { [weak self] _ in
            self?.pingTick()
        })
        joinDeadlines.start(hub: self)
        let timing = presence.timing
        presenceStart = .now()
        timers.append(eventLoop.scheduleRepeatedTask(initialDelay: timing.tick, delay: timing.tick) { [weak self] _ in
            self?.presenceTick()
        })
        timers.append(eventLoop.scheduleRepeatedTask(initialDelay: timing.period, delay: timing.period) { [weak self] _ in
            self?.readDataEpoch()
            self?.readAuthorSecret()
        })
        redis.cluster?.observeFailovers { [weak self] shards in self?.failedOver(shards) }
        readDataEpoch()
        readAuthorSecret()
    }

    func stop() {
        joinDeadlines.stop()
        for timer in timers { timer.cancel() }
        timers = []
        for local in rooms.values { local.recovery?.retry?.cancel() }
    }

    var redisConnected: Bool { store.redis.isConnected && subscriber.isConnected }

    /// Whether some rooms can chat: ``redisConnected``, or in a cluster some shards reachable
    /// (one failing over leaves the others serving). `/health` answers 200 then, so that a load
    /// balancer does not take every host out for one shard's failover.
    var redisServing: Bool {
        redisConnected || (redis.cluster?.isPartlyConnected == true && (subscriber as? ShardedSubscriber)?.isPartlyConnected == true)
    }

    /// `connected`, `degraded` (a cluster with some shards unreachable) or `disconnected`.
    var redisState: String {
        redisConnected ? "connected" : redisServing ? "degraded" : "disconnected"
    }

    // MARK: Connections and membership

    func attach(_ connection: ChatConnectionHandler) {
        connections.add(connection)
    }

    func detach(_ connection: ChatConnectionHandler) {
        connections.remove(connection)
        // Every WebSocket counted against its IP when it was admitted (HTTPHandler hands it over).
        if admission.countsConnections { admission.release(ip: connection.clientIP) }
    }

    /// Adds `connection` to the room's local members (it receives live messages from now on, which
    /// it buffers while it joins) and completes once this worker is subscribed to the room.
    func addMember(_ connection: ChatConnectionHandler, room: String) -> EventLoopFuture<Void> {
        let local: LocalRoom
        if let existing = rooms[room] {
            local = existing
        } else {
            local = LocalRoom(id: room)
            rooms[room] = local
            presence.add(local)
        }
        local.members[ObjectIdentifier(connection)] = connection
        local.outageAtAdd[ObjectIdentifier(connection)] = outages
        return subscriber.subscribe(store.keys.channel(room))
    }

    /// A member's join succeeded (it holds the history up to `lastID`). Returns whether it may
    /// deliver the live messages it buffered while joining: not when the room's live feed was
    /// interrupted meanwhile; the hub then catches it up from the stream like the other members.
    func memberJoined(_ connection: ChatConnectionHandler, room: String) -> Bool {
        joinedSinceTick.insert(room)
        let id = ObjectIdentifier(connection)
        guard let local = rooms[room] else { return true }
        let addedAt = local.outageAtAdd.removeValue(forKey: id)
        guard local.recovery != nil || addedAt != outages else { return true }
        recover(room, members: [id])
        return false
    }

    func removeMember(_ connection: ChatConnectionHandler, room: String) {
        let id = ObjectIdentifier(connection)
        guard let local = rooms[room], local.members.removeValue(forKey: id) != nil else { return }
        local.outageAtAdd[id] = nil
        local.recovery?.pending.remove(id)
        subscriber.unsubscribe(store.keys.channel(room))
        if local.members.isEmpty {
            local.recovery?.retry?.cancel()
            rooms[room] = nil
            presence.remove(local)
        }
    }

    // MARK: Fan-out

    private func received(channel: ByteBuffer, payload: ByteBuffer) {
        let channelName = String(buffer: channel)
        guard let room = store.keys.room(ofChannel: channelName), let local = rooms[room] else { return }
        guard let event = RoomEvent(payload: payload) else {
            logger.debug("unknown pub/sub payload", metadata: ["room": "\(room)"])
            return
        }
        // Rendered once, straight into the frame every member gets (the JSON is spliced, not re-encoded).
        let frame = WebSocketWire.frame(.text, capacity: payload.readableBytes + 64) {
            ServerFrames.write(event, into: &$0)
        }
        if case .kick(_, let target, let author) = event {
            // Closing the kicked member's connections is not stale after a recovery: done always.
            for member in local.members.values { member.kickIfTargeted(target: target, author: author) }
        }
        if let feature = event.kind.feature, event.position == nil {
            // Only for members who asked for it. Not kept (typing), so stale by the end of a
            // recovery: not held.
            guard local.recovery == nil else { return }
            for member in local.members.values where member.deliver(frame, requiring: feature, sender: event.sender) { needsFlush(member) }
            return
        }
        // A kept kind with a feature (edit, delete, react) goes the chat way, its feature with it, so the
        // recovery's hold and a joining member's buffer decide per member too.
        deliverOrHold(frame, id: event.id, requires: event.kind.feature ?? [], to: local)
    }

    private func deliverOrHold(_ frame: ByteBuffer, id: StreamID?, requires: ChatFeatures, to room: LocalRoom) {
        if let recovery = room.recovery {
            recovery.held.hold(id: id, frame: (frame, requires), size: frame.readableBytes)
        } else {
            deliver(frame, id: id, requires: requires, to: room)
        }
    }

    /// Writes one encoded frame (the same buffer) to every member of `room`.
    func deliver(_ frame: ByteBuffer, id: StreamID?, requires: ChatFeatures, to room: LocalRoom) {
        for member in room.members.values {
            if member.deliver(frame, id: id, requires: requires) { needsFlush(member) }
        }
    }

    func needsFlush(_ connection: ChatConnectionHandler) {
        if !connection.flushScheduled {
            connection.flushScheduled = true
            toFlush.append(connection)
        }
    }

    /// End of a batch from Redis: one flush per touched connection.
    func flush() {
        let batch = toFlush
        toFlush.removeAll(keepingCapacity: true)
        for connection in batch { connection.flushNow() }
    }

    private func pingTick() {
        let elapsed = NIODeadline.now() - pingStart
        for connection in connections.advance(to: Int(elapsed.nanoseconds / connections.timing.tick.nanoseconds)) {
            connection.heartbeat()
        }
    }

    /// Refreshes the rooms whose turn it is (``PresenceSchedule``): a slice of them per tick, so
    /// the period's scripts reach Redis spread over it, not at once.
    private func presenceTick() {
        let elapsed = NIODeadline.now() - presenceStart
        let due = presence.advance(to: Int(elapsed.nanoseconds / presence.timing.tick.nanoseconds))
        for local in due { refreshPresence(local.id) }
        // One call for the slice and the rooms joined since the last tick: the index is outside
        // every room's slot (RoomKeys), and nothing in Echo reads it (a tick late is on time).
        let active = joinedSinceTick.union(due.lazy.map(\.id))
        joinedSinceTick.removeAll(keepingCapacity: true)
        guard !active.isEmpty else { return }
        store.markActive(rooms: Array(active)).whenFailure { [logger] error in
            logger.debug("active rooms not marked", metadata: ["error": "\(error)"])
        }
    }

    /// Also after a recovery: a Redis that restarted without its data gets this worker's members,
    /// their names and the room's info key back at once, not a refresh period later.
    func refreshPresence(_ room: String) {
        guard let local = rooms[room] else { return }
        let joined = local.members.values.compactMap(\.joinedMembership)
        guard !joined.isEmpty else { return }
        let members = joined.map { (sessionID: $0.sessionID, username: $0.username) }
        // Every member of an encrypted room proved its key, so any one of them names it.
        let verifier = joined.lazy.compactMap(\.verifier).first
        store.refreshPresence(room: room, members: members, verifier: verifier).assumeIsolated().whenFailure { error in
            self.logger.debug("presence refresh failed", metadata: ["room": "\(room)", "error": "\(error)"])
            self.presence.failed(local)
        }
    }

    // MARK: Drain

    /// Closes every WebSocket with `code`, spread evenly over `window` so clients do not all
    /// reconnect at the same instant; completes when all are closed (or a grace period passed).
    func drain(code: CloseCode, window: TimeAmount) -> EventLoopFuture<Void> {
        draining = true
        let all = connections.keys
        guard !all.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        let step = all.count > 1 ? window.nanoseconds / Int64(all.count) : 0
        var closed: [EventLoopFuture<Void>] = []
        for (index, connection) in all.enumerated() {
            let promise = eventLoop.makePromise(of: Void.self)
            closed.append(promise.futureResult)
            eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(step * Int64(index))) {
                connection.close(code: code).whenComplete { _ in promise.succeed() }
            }
        }
        // Done when every connection closed, or after a grace period for peers that never answer.
        let done = eventLoop.makePromise(of: Void.self)
        let finished = NIOLoopBoundBox(false, eventLoop: eventLoop)
        let grace = eventLoop.scheduleTask(in: window + .seconds(2)) {
            if !finished.value { finished.value = true; done.succeed() }
        }
        EventLoopFuture.andAllComplete(closed, on: eventLoop).whenComplete { _ in
            grace.cancel()
            if !finished.value { finished.value = true; done.succeed() }
        }
        return done.futureResult
    }

    // MARK: Figures

    func stats(slot: Int, pid: Int32) -> WorkerStats {
        WorkerStats(
            slot: slot, pid: pid, connections: connections.count, rooms: rooms.count,
            messagesIn: counters.messagesIn, messagesOut: counters.messagesOut, errors: counters.errorTotal,
            rateLimited: counters.rateLimited, slowConsumerCloses: counters.slowConsumerCloses,
            redisConnected: redisConnected, redisReconnects: store.redis.reconnects + subscriber.reconnects,
            rssBytes: ProcessMemory.residentBytes()
        )
    }
}

enum ProcessMemory {
    /// Resident set size from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * 4096
    }
}
