import EchoShared
import EchoTLS
import NIOCore

/// An event the room keeps, as read from its stream: its position and the frame clients receive.
public struct StoredMessage: Sendable, Equatable {
    public var id: StreamID
    public var frame: ByteBuffer
    /// The features a member needs to be sent this frame (empty: every member): a frame of a new
    /// kind, kept in the stream, must not reach a client that did not ask for it on any path
    /// (join, resume, `history`, the hub's replay after a Redis fault).
    public var requires: ChatFeatures
    /// Another frame of the same message for members granted `feature`, sent to them instead of
    /// ``frame``: a chat message with its `reactions` (``StoredMessage/messages(_:)``), which a
    /// member without `react` must not see. nil: one frame for everyone it reaches.
    public var featured: Featured?

    public struct Featured: Sendable, Equatable {
        public var feature: ChatFeatures
        public var frame: ByteBuffer
    }

    public init(id: StreamID, frame: ByteBuffer, requires: ChatFeatures = [], featured: Featured? = nil) {
        self.id = id
        self.frame = frame
        self.requires = requires
        self.featured = featured
    }

    /// The frame a member granted `features` is sent (``requires``, then ``featured``); nil: none.
    public func frame(for features: ChatFeatures?) -> ByteBuffer? {
        let granted = features ?? []
        guard granted.isSuperset(of: requires) else { return nil }
        if let featured, granted.isSuperset(of: featured.feature) { return featured.frame }
        return frame
    }

    /// This message as `membership` is sent it, its frame chosen (``frame(for:)``); nil: not sent.
    public func delivered(to membership: ChatConnectionStateMachine.Membership) -> StoredMessage? {
        guard featured != nil || !requires.isEmpty else { return self }
        return frame(for: membership.features).map { StoredMessage(id: id, frame: $0) }
    }

    /// The event rendered (nil for a kind the room does not keep: it has no position).
    public init?(_ event: RoomEvent) {
        guard let id = event.id else { return nil }
        self.init(id: id, frame: ServerFrames.event(event), requires: event.kind.feature ?? [])
    }
}

public enum JoinOutcome: Sendable, Equatable {
    case roomNotFound
    /// The room lets this join in no more than the ``JoinRefusal`` says.
    case refused(JoinRefusal)
    /// `messages` oldest first; `recovered` is nil when the join asked for no resume.
    case joined(usersCount: Int, messages: [StoredMessage], recovered: Bool?, moderation: JoinModeration = JoinModeration())
}

/// Why a room that exists refused a join (the join script's word for it).
public enum JoinRefusal: String, Sendable, Equatable {
    /// Locked by its owner, and this join may not pass (docs/protocol.md, Moderation).
    case locked
    /// Encrypted, and the join proved no key.
    case keyRequired = "keyrequired"
    /// Encrypted with another key than the one the join proved.
    case wrongKey = "badkey"
    /// Plain, and the join proved a key: the client expected an encrypted room.
    case notEncrypted = "plain"
}

/// A join's view of the room's moderation state (``JoinScript``).
public struct JoinModeration: Sendable, Equatable {
    /// This join made the room, with the owner key it offered.
    public var created: Bool
    public var locked: Bool
    public init(created: Bool = false, locked: Bool = false) {
        self.created = created
        self.locked = locked
    }
}

/// One catch-up round's answer: `covered` is aligned with the request's positions, `entries` are
/// after the oldest covered position (oldest first), `history` is the room's recent history
/// (oldest first, read only when some position was not covered).
public struct ResyncReply: Sendable, Equatable {
    public var covered: [Bool]
    public var entries: [StoredMessage]
    public var history: [StoredMessage]
    /// Fewer entries than a page: the round read up to the stream's end.
    public var isLastPage: Bool
}

public enum ChatOutcome: Sendable, Equatable {
    /// Stored and published; everyone (the sender too) receives it through pub/sub.
    case stored(StreamID)
    /// A retry of a message stored before: `message` is the stored one, when still in history.
    case duplicate(StreamID, StoredMessage?)
    case rateLimited(retryAfterMilliseconds: Int)
    /// Stored and published, but fewer replicas than `ECHO_REDIS_WAIT_REPLICAS` confirmed it in
    /// time (`replicas` did): a failover before they catch up could lose it.
    case storedUnreplicated(StreamID, replicas: Int)
}

/// Room state in Redis: membership, history, chat. Each operation is one script, one round trip.
public struct RoomStore: Sendable {
    public let redis: any RedisCommands
    /// The key layout: ``RoomKeys/Layout/tagged`` on a Redis Cluster, else today's names.
    public let keys: RoomKeys
    public let configuration: EchoConfiguration
    /// How long a clientId is remembered for dedupe.
    public var dedupeSeconds = 300
    /// Shared by the copies of this store: chats stop waiting for replicas a while after one fell short.
    public let replicaWaitPause = ReplicaWaitPause()
    /// The longest a chat's `WAIT` may take (`ECHO_REDIS_WAIT_REPLICAS`): a replica on the same
    /// network answers within a millisecond or two.
    public static let replicaWaitMilliseconds = 25

    public init(redis: any RedisCommands, keys: RoomKeys, configuration: EchoConfiguration) {
        self.redis = redis
        self.keys = keys
        self.configuration = configuration
    }

    /// Every script the store runs, for the client to load on each connection.
    public static let scripts = [
        ChatScript.script, AmendScript.script, ReactScript.script, JoinScript.script, LeaveScript.script, PresenceRefreshScript.script, ResyncScript.script,
        ActiveRoomsScript.script, ModerationScript.script,
    ]

    /// `gate`: the hashes the moderation check needs (``JoinGate``).
    public func join(_ request: JoinRequest, sessionID: String, timestamp: Int, gate: JoinGate = JoinGate()) -> EventLoopFuture<JoinOutcome> {
        var session = JSONWriter(capacity: 96)
        session.beginObject()
        session.key("roomId"); session.string(request.roomID)
        session.key("username"); session.string(request.username)
        session.key("joinedAt"); session.int(timestamp)
        session.endObject()
        let call = JoinScript(
            roomKeys: keys, room: request.roomID, action: request.action, sessionID: sessionID, username: request.username,
            session: session.buffer,
            eventPrefix: ServerFrames.systemEventPrefix(event: "join", username: request.username, sessionID: sessionID, timestamp: timestamp),
            since: request.since, historyLimit: configuration.historyLimit,
            presenceTTLMilliseconds: configuration.presenceTTLSeconds * 1000, roomTTLSeconds: configuration.roomTTLSeconds,
            authorHash: gate.authorHash, newOwnerHash: gate.newOwnerHash, presentedOwnerHash: gate.presentedOwnerHash,
            verifier: request.keyProof?.verifier
        )
        return redis.run(call)
    }

    /// Marks `rooms` active in the active-rooms index (its own call: ``ActiveRoomsScript``). The
    /// worker sends it once per presence tick, for that tick's slice and the rooms joined since.
    public func markActive(rooms: [String]) -> EventLoopFuture<Void> {
        guard !rooms.isEmpty else { return redis.eventLoop.makeSucceededVoidFuture() }
        return redis.run(ActiveRoomsScript(roomKeys: keys, rooms: rooms, roomTTLSeconds: configuration.roomTTLSeconds)).map { _ in }
    }

    /// Stores and publishes an event the room keeps: a chat message by default, `body` being
    /// ``ServerFrames/chatBody(sender:sessionID:request:timestamp:)``. Any stored kind goes
    /// through here (one script, one rate limit, one dedupe by `clientId`).
    /// `author`: the writer's ``AuthorHasher`` hash, kept in the entry beside the body (never in
    /// the body, which members receive).
    public func chat(
        room: String, kind: RoomEvent.Kind = .chat, body: ByteBuffer, clientID: String?, author: String? = nil, clientIP: String
    ) -> EventLoopFuture<ChatOutcome> {
        precondition(kind.streamField != nil, "\(kind) is not kept in the stream")
        let call = ChatScript(
            roomKeys: keys, room: room, kind: kind, body: body, clientID: clientID, author: author, clientIP: clientIP, streamMaxLength: configuration.streamMaxLength,
            ratePerMinute: configuration.rateLimitPerMinute, burst: configuration.rateLimitBurst,
            roomTTLSeconds: configuration.roomTTLSeconds, dedupeSeconds: dedupeSeconds
        )
        let outcome = redis.run(call)
        let replicas = configuration.redisWaitReplicas
        guard replicas > 0 else { return outcome }
        guard !replicaWaitPause.isPaused else {
            return outcome.map { if case .stored(let id) = $0 { .storedUnreplicated(id, replicas: 0) } else { $0 } }
        }
        // Short: every command queued on the connection waits it out, and after a failover the new
        // primary has no replica until one syncs, so each WAIT already sent runs to its end.
        let timeout = min(configuration.redisTimeoutMilliseconds / 4, Self.replicaWaitMilliseconds)
        let pause = replicaWaitPause
        return redis.confirmedByReplicas(outcome, replicas: replicas, timeoutMilliseconds: timeout, routedBy: keys.stream(room))
            .map { outcome, confirmed in
                guard case .stored(let id) = outcome, confirmed < replicas else { return outcome }
                pause.fellShort()
                return .storedUnreplicated(id, replicas: confirmed)
            }
    }

    /// Edits (`kind` `.edit`, within ``EchoConfiguration/editWindowSeconds``) or deletes one of the
    /// room's chat messages written under `author` (``AmendScript``).
    public func amend(
        room: String, kind: RoomEvent.Kind, target: StreamID, body: ByteBuffer, author: String, clientID: String?
    ) -> EventLoopFuture<AmendOutcome> {
        precondition(kind == .edit || kind == .delete, "\(kind) does not amend a message")
        return redis.run(AmendScript(
            roomKeys: keys, room: room, kind: kind, target: target, author: author, body: body, clientID: clientID,
            windowMilliseconds: kind == .edit ? configuration.editWindowSeconds * 1000 : nil, streamMaxLength: configuration.streamMaxLength,
            roomTTLSeconds: configuration.roomTTLSeconds, dedupeSeconds: dedupeSeconds
        ))
    }

    /// Turns the member's reaction `emoji` to the chat message `target` on, or off if it was on
    /// (``ReactScript``): the reaction of `author` (its author hash) when it has one, else of
    /// `sessionID`. `bodyPrefix` is ``ServerFrames/reactBodyPrefix(messageID:emoji:username:)``.
    public func react(
        room: String, target: StreamID, emoji: String, sessionID: String, author: String?, bodyPrefix: ByteBuffer
    ) -> EventLoopFuture<ReactOutcome> {
        redis.run(ReactScript(
            roomKeys: keys, room: room, target: target, sessionID: sessionID, authorHash: author, emoji: emoji, bodyPrefix: bodyPrefix,
            streamMaxLength: configuration.streamMaxLength, roomTTLSeconds: configuration.roomTTLSeconds))
    }

    /// Publishes an event the room does not keep (typing) on the room's channel: PUBLISH, or
    /// SPUBLISH on the room's shard in a cluster; never in the stream, so never in history or a
    /// resume. Fire and forget: a lost one is not worth a retry.
    public func publish(room: String, event: RoomEvent) -> EventLoopFuture<Void> {
        precondition(event.kind.streamField == nil, "\(event.kind) is kept: store it (chat(room:kind:...))")
        let channel = keys.channel(room)
        return redis.send(RESPCommand(.string(keys.publishCommand), .string(channel), .bytes(event.payload)), routedBy: channel).map { _ in }
    }

    /// Kicks a member or locks the room, if `ownerHash` is the room's owner's (``ModerationScript``).
    /// `kicker`: the asking member's author hash (a member cannot kick itself, in another tab either).
    public func moderate(room: String, _ operation: ModerationRequest.Operation, ownerHash: String, kicker: String?, timestamp: Int)
        -> EventLoopFuture<ModerationOutcome>
    {
        redis.run(ModerationScript(
            roomKeys: keys, room: room, operation: operation, ownerHash: ownerHash, kicker: kicker, timestamp: timestamp,
            roomTTLSeconds: configuration.roomTTLSeconds))
    }

    /// Removes a member; everyone left gets a leave event. Returns the members left.
    public func leave(room: String, sessionID: String, username: String, timestamp: Int) -> EventLoopFuture<Int> {
        redis.run(LeaveScript(
            roomKeys: keys, room: room, sessionID: sessionID,
            eventPrefix: ServerFrames.systemEventPrefix(event: "leave", username: username, sessionID: sessionID, timestamp: timestamp),
            roomTTLSeconds: configuration.roomTTLSeconds
        ))
    }

    /// The last `historyLimit` messages, oldest first.
    public func history(room: String) -> EventLoopFuture<[StoredMessage]> {
        let stream = keys.stream(room)
        return redis.send(RESPCommand("XREVRANGE", .string(stream), "+", "-", "COUNT", .integer(configuration.historyLimit)), routedBy: stream)
            .map { StoredMessage.messages(Array(RoomEvent.events(fromStream: $0).reversed())) }
    }

    /// Moves this worker's members' presence expiry forward, re-adding any that Redis lost. The
    /// active-rooms index is the caller's, once per slice of rooms (``markActive(rooms:)``).
    /// `verifier`: the room's key verifier when it is encrypted.
    public func refreshPresence(room: String, members: [(sessionID: String, username: String)], verifier: String? = nil) -> EventLoopFuture<Void> {
        redis.run(PresenceRefreshScript(
            roomKeys: keys, room: room, members: members, presenceTTLMilliseconds: configuration.presenceTTLSeconds * 1000,
            roomTTLSeconds: configuration.roomTTLSeconds, verifier: verifier
        ))
    }

    /// Redis's data epoch (``RoomKeys/dataEpoch``): the stored one, or `candidate` when there was
    /// none (Redis is new, or lost its data), which then becomes it. Kept alive for the room TTL
    /// from each call; workers call it at every presence refresh.
    public func dataEpoch(candidate: String) -> EventLoopFuture<String> {
        let epoch = keys.dataEpoch
        let key = RESPArgument.string(epoch)
        let ttl = RESPArgument.integer(configuration.roomTTLSeconds)
        let set = redis.send(RESPCommand("SET", key, .string(candidate), "NX", "GET", "EX", ttl), routedBy: epoch)
        let expire = redis.send(RESPCommand("EXPIRE", key, ttl), routedBy: epoch)
        return set.and(expire).map { reply, _ in reply.string ?? candidate }
    }

    /// The authorship secret (``RoomKeys/authorSecret``): the stored one, or `candidate` (hex of
    /// 32 random bytes, or the secret this worker already has) when there was none. nil for a
    /// stored value that is not such hex (then nothing is hashed, rather than with a weak key).
    public func authorSecret(candidate: [UInt8]) -> EventLoopFuture<[UInt8]?> {
        let key = keys.authorSecret
        return redis.send(RESPCommand("SET", .string(key), .string(Hex.encode(candidate)), "NX", "GET"), routedBy: key).map { reply in
            guard let stored = reply.string else { return candidate }
            guard let bytes = Hex.decode(stored), bytes.count == 32 else { return nil }
            return bytes
        }
    }

    /// One catch-up round for `room` (see ``RoomRecovery``).
    public func resync(room: String, request: ResyncRequest, pageSize: Int = RoomRecovery.pageSize) -> EventLoopFuture<ResyncReply> {
        redis.run(ResyncScript(
            roomKeys: keys, room: room, request: request, pageSize: pageSize, historyLimit: configuration.historyLimit,
            roomTTLSeconds: configuration.roomTTLSeconds))
    }
}
