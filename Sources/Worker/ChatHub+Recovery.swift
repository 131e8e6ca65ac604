import EchoCore
import Logging
import NIOCore

/// Catching rooms up after the pub/sub connection to Redis was lost (a restart, a pause, a killed
/// connection): while it is away Redis delivers nothing to this worker, and messages published
/// then exist only in the streams. See ``RoomRecovery`` for the rule.
///
/// A room recovers in rounds, each one script (one round trip) reading the stream after its
/// members' positions. A round runs only while the room's channel is subscribed on the current
/// connection, so everything published before the read is in the stream and everything after
/// arrives live (held meanwhile). A failed round is retried with back-off for as long as the room
/// has members; a round overtaken by another outage is dropped and the next resubscribe starts
/// over.
extension ChatHub {
    func subscriptionLost() {
        outages += 1
        for (room, local) in rooms {
            let joined = local.members.filter { $0.value.joinedSessionID != nil }.map(\.key)
            recover(room, members: joined, start: false)
        }
        if !rooms.isEmpty {
            logger.warning("live feed interrupted (a pub/sub connection lost, or a cluster slot moved); holding live messages until the rooms are caught up", metadata: ["rooms": "\(rooms.count)"])
        }
    }

    func resubscribed() {
        for (room, local) in rooms where local.recovery != nil {
            startRound(room)
        }
    }

    /// Puts `members` of `room` (and its live feed) into recovery; starts a round when possible.
    func recover(_ room: String, members: [ObjectIdentifier], start: Bool = true) {
        guard let local = rooms[room] else { return }
        let recovery: Recovery
        if let existing = local.recovery {
            recovery = existing
        } else {
            recovery = Recovery(expectedEpoch: knownEpoch)
            local.recovery = recovery
        }
        recovery.pending.formUnion(members)
        if start { startRound(room) }
    }

    func startRound(_ room: String) {
        guard let local = rooms[room], let recovery = local.recovery, !recovery.roundInFlight else { return }
        // Before the channel is confirmed, a message published after the read could be missed.
        guard subscriber.isActive(store.keys.channel(room)) else { return }
        recovery.retry?.cancel()
        recovery.retry = nil
        var positions: [ObjectIdentifier: StreamID?] = [:]
        for id in recovery.pending {
            if let member = local.members[id], member.joinedSessionID != nil {
                positions[id] = member.lastID
            }
        }
        recovery.pending = Set(positions.keys)
        guard !positions.isEmpty else {
            goLive(room)
            return
        }
        let request = ResyncRequest(positions: positions.values, trustsNone: recovery.forceReset)
        let outage = outages
        recovery.roundInFlight = true
        // Messages dropped for the bound before this point are read back by this round.
        recovery.held.dropped = false
        let epoch = readEpoch(room: room)
        epoch.and(store.resync(room: room, request: request)).assumeIsolated().whenComplete { result in
            recovery.roundInFlight = false
            guard let current = self.rooms[room], current === local, local.recovery === recovery else { return }
            guard outage == self.outages else {
                // The feed broke again while reading: the next resubscribe starts over.
                self.startRound(room)
                return
            }
            switch result {
            case .success(let (epoch, reply)):
                recovery.attempt = 0
                self.noteDataEpoch(epoch)
                if DataEpochs.lost(expected: recovery.expectedEpoch, current: epoch) { recovery.forceReset = true }
                recovery.expectedEpoch = DataEpochs.merged(recovery.expectedEpoch, epoch)
                guard request.trustsNone || !recovery.forceReset else {
                    // This round trusted positions that, it turns out (Redis lost its data, or the
                    // shard failed over while it ran), cannot be trusted: its reply has no history
                    // to reset the members to, and the entries it read would be dropped with
                    // their positions. Read again, trusting none.
                    self.eventLoop.execute { self.startRound(room) }
                    return
                }
                recovery.forceReset = false
                self.apply(reply, of: request, to: positions, in: local, room: room, dataLost: request.trustsNone)
                if recovery.pending.isEmpty && !recovery.held.dropped {
                    self.goLive(room)
                } else {
                    self.eventLoop.execute { self.startRound(room) }
                }
            case .failure(let error):
                let delay = ReconnectBackoff.delay(attempt: recovery.attempt, jitter: Double.random(in: -1...1))
                if recovery.attempt == 0 || recovery.attempt % 10 == 0 {
                    self.logger.warning("could not catch a room up after a Redis fault; retrying", metadata: [
                        "room": "\(room)", "error": "\(error)", "attempt": "\(recovery.attempt)",
                    ])
                }
                recovery.attempt += 1
                recovery.retry = self.eventLoop.scheduleTask(in: delay) { self.startRound(room) }
            }
        }
    }

    private func apply(
        _ reply: ResyncReply, of request: ResyncRequest, to positions: [ObjectIdentifier: StreamID?], in local: LocalRoom, room: String,
        dataLost: Bool
    ) {
        guard let recovery = local.recovery else { return }
        // One frame per entry, the same buffer for every member (and one for the members granted
        // an entry's `featured` frame: a message with its reactions).
        let frames = reply.entries.map { entry in
            (id: entry.id, frame: WebSocketWire.text(entry.frame), requires: entry.requires,
             featured: entry.featured.map { (feature: $0.feature, frame: WebSocketWire.text($0.frame)) })
        }
        var replayed = 0
        var reset = 0
        for (id, position) in positions {
            guard let member = local.members[id], member.joinedSessionID != nil, member.lastID == position else { continue }
            switch RoomRecovery.action(for: position, in: request, covered: reply.covered, dataLost: dataLost) {
            case .replay:
                for entry in frames where ResumePlan.isNew(entry.id, after: member.lastID) {
                    let frame = entry.featured.flatMap { (member.joinedFeatures ?? []).isSuperset(of: $0.feature) ? $0.frame : nil } ?? entry.frame
                    if member.deliver(frame, id: entry.id, requires: entry.requires) {
                        needsFlush(member)
                        replayed += 1
                    }
                }
                if reply.isLastPage { recovery.pending.remove(id) }
            case .reset:
                member.resync(history: reply.history)
                needsFlush(member)
                recovery.pending.remove(id)
                reset += 1
            case .skip:
                break
            }
        }
        flush()
        if replayed > 0 || reset > 0 {
            logger.info("caught a room up after a Redis fault", metadata: [
                "room": "\(room)", "deliveries": "\(replayed)", "toldNotRecovered": "\(reset)",
            ])
        }
    }

    /// Reads Redis's data epoch (at start and every presence refresh): a Redis that lost its data
    /// without this worker's connections noticing (FLUSHALL, a restart between two health checks)
    /// is caught here.
    func readDataEpoch() {
        readEpoch().assumeIsolated().whenComplete { result in
            switch result {
            case .success(let epoch): self.noteDataEpoch(epoch)
            case .failure(let error):
                self.logger.debug("could not read the data epoch", metadata: ["error": "\(error)"])
                // The first read matters: without it a loss cannot be told from a first start. It
                // usually fails once, as the hub starts before Redis is connected.
                if self.knownEpoch == nil {
                    self.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.readDataEpoch() }
                }
            }
        }
    }

    /// A replica took over `shards`: what their old primaries acknowledged last may not have
    /// reached it (replication is asynchronous), and the epoch cannot tell (the replica has it).
    /// So every member of their rooms is told (`recovered:false`) and gets the history as it is,
    /// never a silent gap. Every worker follows the map, so each tells its own members.
    func failedOver(_ shards: [ClusterSlotMap.Shard]) {
        guard let map = redis.cluster?.map else { return }
        let failed = Set(shards.compactMap(\.ranges.first?.lowerBound))
        var count = 0
        for (room, local) in rooms {
            guard let first = map.shard(forSlot: RedisSlot.of(store.keys.stream(room)))?.ranges.first?.lowerBound,
                  failed.contains(first) else { continue }
            let joined = local.members.filter { $0.value.joinedSessionID != nil }.map(\.key)
            recover(room, members: joined, start: false)
            local.recovery?.forceReset = true
            count += 1
        }
        if count > 0 {
            logger.warning("a Redis Cluster shard failed over; telling its rooms' members what history is left", metadata: ["rooms": "\(count)"])
            eventLoop.execute { self.resubscribed() }
        }
    }

    /// Redis's data epoch: one key on one node; in a cluster the epochs of the shards that could
    /// be read (fails only when none could), or with `room` only that room's shard's, so a room
    /// on a healthy shard is caught up while another shard fails over (``DataEpochs``).
    func readEpoch(room: String? = nil) -> EventLoopFuture<String> {
        guard let cluster = redis.cluster else { return store.dataEpoch(candidate: SessionID.make()) }
        guard let map = cluster.map else {
            return eventLoop.makeFailedFuture(RedisError(.unavailable, "the Redis Cluster's slot map is not read yet"))
        }
        let shards = room.map { [map.shard(forSlot: RedisSlot.of(store.keys.stream($0)))].compactMap { $0 } } ?? map.shards
        let ttl = RESPArgument.integer(configuration.roomTTLSeconds)
        let reads = shards.compactMap(\.ranges.first?.lowerBound).map { slot in
            let key = DataEpochs.key(forSlot: slot)
            let candidate = SessionID.make()
            let set = cluster.send(RESPCommand("SET", .string(key), .string(candidate), "NX", "GET", "EX", ttl), routedBy: key)
            let expire = cluster.send(RESPCommand("EXPIRE", .string(key), ttl), routedBy: key)
            return set.and(expire).map { reply, _ in (key, reply.string ?? candidate) }
        }
        guard !reads.isEmpty else {
            return eventLoop.makeFailedFuture(RedisError(.unavailable, "no Redis Cluster shard serves the room"))
        }
        return EventLoopFuture.whenAllComplete(reads, on: eventLoop).flatMapThrowing { results in
            var epochs: [String: String] = [:]
            var failure: Error?
            for result in results {
                switch result {
                case .success(let (key, value)): epochs[key] = value
                case .failure(let error): failure = failure ?? error
                }
            }
            if epochs.isEmpty, let failure { throw failure }
            return DataEpochs.combine(epochs)
        }
    }

    /// On a new epoch, every room is caught up, and every member told: Redis lost what it held.
    func noteDataEpoch(_ epoch: String) {
        defer { knownEpoch = DataEpochs.merged(knownEpoch, epoch) }
        guard DataEpochs.lost(expected: knownEpoch, current: epoch) else { return }
        // In a cluster only the rooms of the shards whose epoch changed (all, without a map).
        let changed = DataEpochs.changedKeys(expected: knownEpoch, current: epoch)
        let affected = rooms.filter { room, _ in
            guard let map = redis.cluster?.map, !changed.isEmpty,
                  let first = map.shard(forSlot: RedisSlot.of(store.keys.stream(room)))?.ranges.first?.lowerBound else { return true }
            return changed.contains(DataEpochs.key(forSlot: first))
        }
        logger.warning("Redis lost its data; telling every member and rebuilding presence", metadata: ["rooms": "\(affected.count)"])
        for (room, local) in affected {
            // Rooms already recovering keep the epoch they started from, and find out themselves.
            let joined = local.members.filter { $0.value.joinedSessionID != nil }.map(\.key)
            recover(room, members: joined, start: false)
        }
        // Not from inside a round's callback: each room's round starts on its own.
        eventLoop.execute { self.resubscribed() }
    }

    /// Every member is caught up: the held live messages go out (each member skips what it has)
    /// and the room is live again.
    func goLive(_ room: String) {
        guard let local = rooms[room], let recovery = local.recovery else { return }
        local.recovery = nil
        recovery.retry?.cancel()
        for entry in recovery.held.take() {
            for member in local.members.values where member.deliver(entry.frame.frame, id: entry.id, requires: entry.frame.requires) {
                needsFlush(member)
            }
        }
        flush()
        let elapsed = NIODeadline.now() - recovery.startedAt
        logger.info("room live again after a Redis fault", metadata: ["room": "\(room)", "ms": "\(elapsed.nanoseconds / 1_000_000)"])
        refreshPresence(room)
    }
}
