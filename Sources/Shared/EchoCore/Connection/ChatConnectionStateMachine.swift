import EchoShared
import EchoTLS
import Logging
import NIOCore

/// One WebSocket client's chat session, without I/O: events in (a frame, a join's result, a live
/// message, a ping tick, a close), actions out (write a frame, join through the hub and the room
/// store, close with a code). ``ChatConnectionHandler`` (Worker) only translates between NIO and
/// these calls, so every race the protocol has (docs/protocol.md) is decided here and unit-tested.
///
/// A join subscribes first, then reads the stream, then goes live: live messages that arrive while
/// the join script runs are buffered and those already in the history it read are dropped, so a
/// resumed client sees no gap and no duplicate.
///
/// What stays in the handler, and why: the channel's writability and queued bytes (NIO's figures,
/// read where the write happens: the slow-consumer check is a property of the socket, reported
/// here as ``outboundFull()``), and the hub's flush batching (``ChatHub`` state per connection).
public struct ChatConnectionStateMachine {
    public internal(set) var state: State
    let configuration: Configuration

    public init(configuration: Configuration, now: Instant) {
        self.configuration = configuration
        state = .open(Connection(
            room: .idle,
            liveness: .active,
            joinDeadline: .pending(openedAtSeconds: now.uptimeSeconds),
            reading: .on,
            historyRead: .none,
            requestBucket: TokenBucket(capacity: 20, ratePerMinute: 120, nowMilliseconds: now.wallMilliseconds),
            inbound: InboundByteBudget(burst: configuration.maxFrameBytes, nowNanoseconds: now.uptimeNanoseconds)
        ))
    }

    // MARK: Types

    /// What the machine needs from ``EchoConfiguration``. A class: one instance, made by the hub,
    /// is shared by every connection of a worker (an idle connection must stay small).
    public final class Configuration: Sendable {
        public let limits: InputLimits
        /// What the `session` frame tells the client (the same numbers the server enforces).
        public let clientLimits: ClientLimits
        /// `ECHO_MAX_FRAME_BYTES`: also the inbound budget's burst.
        public let maxFrameBytes: Int
        /// `ECHO_INBOUND_BYTES_PER_SECOND` (0: off).
        public let inboundBytesPerSecond: Int
        /// `ECHO_OUTBOUND_LIMIT`: a history reply gets half of it.
        public let outboundLimitBytes: Int
        /// `ECHO_JOIN_TIMEOUT` (0: off).
        public let joinTimeoutSeconds: Int
        /// Whether chat goes through the Redis rate limiter (`ECHO_RATE_LIMIT` > 0): a failed chat
        /// then also counts as the limiter being unavailable.
        public let rateLimited: Bool
        /// Hashes joins' `authorKey`s and owners' `ownerKey`s; the hub sets its secret once read from Redis.
        public let authors: AuthorHasher
        /// Makes the ``OwnerKey`` offered to a `create` that asked for moderation (random; fixed in tests).
        public let makeOwnerKey: @Sendable () -> OwnerKey
        /// Makes a `challenge`'s nonce (random; fixed in tests).
        public let makeNonce: @Sendable () -> [UInt8]

        public init(
            limits: InputLimits, clientLimits: ClientLimits, maxFrameBytes: Int, inboundBytesPerSecond: Int,
            outboundLimitBytes: Int, joinTimeoutSeconds: Int, rateLimited: Bool, authors: AuthorHasher = AuthorHasher(),
            makeOwnerKey: @escaping @Sendable () -> OwnerKey = { OwnerKey(bytes: Crypto.randomBytes(OwnerKey.byteCount)) },
            makeNonce: @escaping @Sendable () -> [UInt8] = { Crypto.randomBytes(RoomEncryption.nonceByteCount) }
        ) {
            self.authors = authors
            self.makeOwnerKey = makeOwnerKey
            self.makeNonce = makeNonce
            self.limits = limits
            self.clientLimits = clientLimits
            self.maxFrameBytes = maxFrameBytes
            self.inboundBytesPerSecond = inboundBytesPerSecond
            self.outboundLimitBytes = outboundLimitBytes
            self.joinTimeoutSeconds = joinTimeoutSeconds
            self.rateLimited = rateLimited
        }

        public convenience init(_ configuration: EchoConfiguration) {
            self.init(
                limits: InputLimits(configuration), clientLimits: ClientLimits(configuration), maxFrameBytes: configuration.maxFrameBytes,
                inboundBytesPerSecond: configuration.inboundBytesPerSecond, outboundLimitBytes: configuration.outboundLimitBytes,
                joinTimeoutSeconds: configuration.joinTimeoutSeconds, rateLimited: configuration.rateLimitPerMinute > 0
            )
        }
    }

    /// The clocks an event happened at: wall time for timestamps and the request bucket, uptime
    /// for the inbound budget and the join deadline.
    public struct Instant: Sendable, Equatable {
        public var wallMilliseconds: Int
        public var uptimeNanoseconds: UInt64
        public init(wallMilliseconds: Int, uptimeNanoseconds: UInt64) {
            self.wallMilliseconds = wallMilliseconds
            self.uptimeNanoseconds = uptimeNanoseconds
        }
        /// Whole seconds of uptime (the join timeout is counted in seconds).
        public var uptimeSeconds: UInt32 { UInt32(truncatingIfNeeded: uptimeNanoseconds / 1_000_000_000) }
    }

    /// Who a joined (or joining) connection is. A class: the hot path copies the joined state per
    /// delivery, and one reference costs less than three strings.
    public final class Membership: Sendable, Equatable, CustomStringConvertible {
        public let roomID: String
        public let sessionID: String
        public let username: String
        /// What the join asked for and was granted (``JoinRequest/features``); nil: it asked for
        /// nothing, and gets exactly the frames of a client that predates features.
        public let features: ChatFeatures?
        /// The keyed hash of the join's `authorKey` (``AuthorHasher``), stored with each message
        /// this member writes; nil: its messages have no author.
        public let authorHash: String?
        /// The verifier of the encrypted room's key this member proved; nil: a plain room, where
        /// chat is text and images, never ciphertext (and the reverse in an encrypted one).
        public let verifier: String?
        public init(
            roomID: String, sessionID: String, username: String, features: ChatFeatures? = nil, authorHash: String? = nil, verifier: String? = nil
        ) {
            self.roomID = roomID
            self.sessionID = sessionID
            self.username = username
            self.features = features
            self.authorHash = authorHash
            self.verifier = verifier
        }
        public static func == (a: Membership, b: Membership) -> Bool {
            a.roomID == b.roomID && a.sessionID == b.sessionID && a.username == b.username && a.features == b.features
                && a.authorHash == b.authorHash && a.verifier == b.verifier
        }
        public var encrypted: Bool { verifier != nil }
        public var description: String { "\(username)@\(roomID)" }

        /// Whether this member is sent a frame that needs `features` (``StoredMessage/requires``).
        @inline(__always)
        public func receives(_ features: ChatFeatures) -> Bool {
            features.isEmpty || (self.features ?? []).isSuperset(of: features)
        }
    }

    /// A message from the room's channel: `id` is nil for system events (always new).
    public struct LiveMessage: Sendable, Equatable {
        public var id: StreamID?
        public var frame: ByteBuffer
        /// See ``StoredMessage/requires``: kept with a buffered message, decided when it goes out.
        public var requires: ChatFeatures
        public init(id: StreamID?, frame: ByteBuffer, requires: ChatFeatures = []) {
            self.id = id
            self.frame = frame
            self.requires = requires
        }
    }

    public enum State {
        /// Reading requests.
        case open(Connection)
        /// A close frame was sent (or the socket is being dropped): frames are ignored, nothing
        /// more is written, but the connection stays a member until its socket closes.
        case closing(Connection)
        case closed
        /// Only while an event mutates the connection in place (so its arrays are not copied).
        case modifying
    }

    /// Everything an open connection holds.
    public struct Connection {
        public internal(set) var room: Room
        public internal(set) var liveness: Liveness
        public internal(set) var joinDeadline: JoinDeadline
        public internal(set) var reading: Reading
        public internal(set) var historyRead: HistoryRead
        /// Joins and history reads cost Redis work but pass no chat limiter: bounded per connection.
        var requestBucket: TokenBucket
        /// `ECHO_INBOUND_BYTES_PER_SECOND`: see ``ChatConnectionStateMachine/frameReceived(_:payload:now:)``.
        var inbound: InboundByteBudget
        /// Counts joins started: a join's result names its generation, and only the newest counts
        /// (a superseded join is silent).
        var generation = 0
        /// Counts leave requests: a join whose per-IP check was pending when one came is dropped.
        var leaves: UInt8 = 0
        /// Uptime (ns) before which a `typing` is dropped: one per ``typingInterval``.
        var typingQuietUntil: UInt64 = 0
        /// The nonce of the last `challenge`, until a join uses it (``RoomKeyProof``).
        var challenge: [UInt8]? = nil
    }

    public enum Room: Equatable {
        case idle
        /// Subscribed (or subscribing) and reading the history; live messages are buffered.
        case joining(Joining)
        case joined(Joined)
    }

    /// A join in flight. A class, like ``Joined``: buffering a live message appends in place.
    public final class Joining: Equatable {
        public let membership: Membership
        /// The position the client resumes after (the request's `since`).
        public let since: StreamID?
        public let generation: Int
        /// The owner key offered to this `create`: the `session` frame carries it if the join made the room.
        public let offeredOwnerKey: OwnerKey?
        /// Live messages received while the join is in flight, in arrival order.
        public internal(set) var buffered: [LiveMessage] = []

        init(membership: Membership, since: StreamID?, generation: Int, offeredOwnerKey: OwnerKey? = nil) {
            self.membership = membership
            self.since = since
            self.generation = generation
            self.offeredOwnerKey = offeredOwnerKey
        }

        public static func == (a: Joining, b: Joining) -> Bool {
            a.membership == b.membership && a.since == b.since && a.generation == b.generation && a.buffered == b.buffered
                && a.offeredOwnerKey == b.offeredOwnerKey
        }
    }

    /// A joined room. A class: every delivery moves ``lastID``, in place. Copying a value payload
    /// out of the state enum and back per delivery (reference counting on the way) made the
    /// decision 3 to 7 times slower than the handler's old separate field, measured with -O; as a
    /// class it costs what that field did.
    public final class Joined: Equatable {
        public let membership: Membership
        /// The newest message this client has (from history or live). A live copy at or below it
        /// is a duplicate, and after a Redis reconnect the hub replays the stream after it.
        public internal(set) var lastID: StreamID?
        /// See ``ResumePlan/duplicateFloor(history:recovered:)``.
        public internal(set) var duplicateFloor: StreamID?

        init(membership: Membership, lastID: StreamID?, duplicateFloor: StreamID?) {
            self.membership = membership
            self.lastID = lastID
            self.duplicateFloor = duplicateFloor
        }

        public static func == (a: Joined, b: Joined) -> Bool {
            a.membership == b.membership && a.lastID == b.lastID && a.duplicateFloor == b.duplicateFloor
        }
    }

    public enum Liveness: Equatable {
        case active
        /// A ping went out and nothing came back yet: at the next tick the peer is gone.
        case awaitingPong
    }

    public enum JoinDeadline: Equatable {
        /// No join succeeded yet: the connection is closed `ECHO_JOIN_TIMEOUT` after it opened.
        case pending(openedAtSeconds: UInt32)
        case met
    }

    public enum Reading: Equatable {
        case on
        /// The inbound budget is spent: reading resumes once it refilled.
        case paused
    }

    /// A `history` request's read from Redis: requests that arrive during a read share its reply
    /// (the same buffer, queued once per request), so one client cannot make the worker build many
    /// history replies at once.
    public enum HistoryRead: Equatable {
        case none
        case inFlight(waiters: UInt8)
    }

    // MARK: Results the handler feeds back

    public enum JoinResult {
        case joined(messages: [StoredMessage], recovered: Bool?, moderation: JoinModeration = JoinModeration())
        case roomNotFound
        case refused(JoinRefusal)
        case failed(any Error)
    }

    public enum ChatResult {
        case stored
        case duplicate(StoredMessage?)
        case rateLimited(retryAfterMilliseconds: Int)
        case failed(any Error)
    }

    public enum AmendResult {
        case done(AmendOutcome)
        case failed(any Error)
    }

    public enum ReactResult {
        case done(ReactOutcome)
        case failed(any Error)
    }

    public enum ModerationResult {
        case done(ModerationOutcome)
        case failed(any Error)
    }

    public enum HistoryResult {
        case read([StoredMessage])
        case failed
    }

    // MARK: Actions

    public enum Metric: Hashable, Sendable {
        case messageIn
        case error(ProtocolError.Code)
        case rateLimited
        case rateLimiterUnavailable
        case slowConsumerClose
        case joinTimeoutClose
        case protocolErrorClose
    }

    public struct LogEntry: Equatable, Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    public enum Action: Equatable {
        /// Queue an encoded frame (``WebSocketWire``) for the client, flushing when `flush`.
        case write(ByteBuffer, flush: Bool)
        case flush
        /// Ask the per-IP join limit, then feed ``joinAdmitted(_:leaves:refusal:draining:sessionID:now:)``.
        case checkJoinAdmission(JoinRequest, leaves: UInt8)
        /// Add the connection to the room's members (subscribe), then run the join script; feed
        /// ``joinCompleted(generation:_:)``.
        /// `gate`: the hashes the join script's moderation check needs (``JoinGate``).
        case join(JoinRequest, Membership, generation: Int, gate: JoinGate = JoinGate())
        /// The join is done and its history written: ask the hub whether the room's live feed was
        /// intact meanwhile; if it was, feed `buffered` to ``liveMessage(_:id:)`` in order (else the
        /// hub catches the connection up from the stream). Then flush.
        case goLive(room: String, buffered: [LiveMessage])
        /// Remove the connection from the room's members (unsubscribe).
        case removeMember(room: String)
        /// Record the leave in the room store (presence, the system event).
        case leave(Membership, timestamp: Int)
        /// Store and publish a kept room event (the chat script); feed ``chatCompleted(room:clientID:_:)``.
        /// The kind travels with it, so a new kept kind needs no new action.
        /// `author`: the member's ``Membership/authorHash``, stored beside the body.
        case storeEvent(room: String, kind: RoomEvent.Kind, body: ByteBuffer, clientID: String?, author: String? = nil)
        /// Edit or delete one of the member's messages (``AmendScript``); feed ``amendCompleted(clientID:_:)``.
        case amendEvent(room: String, kind: RoomEvent.Kind, target: StreamID, body: ByteBuffer, author: String, clientID: String?)
        /// Toggle the member's reaction `emoji` on `target` (``ReactScript``): `author`'s (its
        /// ``Membership/authorHash``) if it has one, else `sessionID`'s. `body` is the stored body
        /// up to its `sessionId`. Feed ``reactCompleted(_:)``.
        case reactEvent(room: String, target: StreamID, emoji: String, sessionID: String, author: String?, body: ByteBuffer)
        /// Publish an event the room does not keep (typing) on the room's channel; no reply.
        case publishEvent(room: String, RoomEvent)
        /// A room owner's kick or lock (``ModerationScript``); feed ``moderationCompleted(_:)``.
        /// `kicker`: the asking member's author hash.
        case moderate(room: String, ModerationRequest.Operation, ownerHash: String, kicker: String?)
        /// Read the room's history; feed ``historyCompleted(_:)``.
        case readHistory(room: String)
        case count(Metric)
        case log(LogEntry)
        case pauseReading
        /// Feed ``readCheck(now:)`` after this long.
        case scheduleReadCheck(nanoseconds: UInt64)
        case resumeReading
        /// Send a close frame, close once it is written, reset the socket if that takes too long.
        case sendClose(CloseCode, reason: String)
        /// Close the socket without a close frame.
        case closeNow
    }

    /// What to do with one live message.
    public enum LiveDecision: Equatable {
        /// Write it to the client (not flushed: the hub flushes at the end of the batch).
        case write
        /// Nothing to write: buffered, a duplicate, or not a member.
        case none
    }
}

// MARK: Queries

extension ChatConnectionStateMachine {
    /// Whether frames are still written and read.
    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    public var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    var connection: Connection? {
        switch state {
        case .open(let c), .closing(let c): return c
        case .closed, .modifying: return nil
        }
    }

    public var joined: Joined? {
        guard case .joined(let joined)? = connection?.room else { return nil }
        return joined
    }

    public var joinedMembership: Membership? { joined?.membership }
    public var lastID: StreamID? { joined?.lastID }
    public var duplicateFloor: StreamID? { joined?.duplicateFloor }

    /// Whether a join ever succeeded on this connection.
    public var hasJoined: Bool { connection?.joinDeadline == .met }

    /// Mutates the connection in place, open or closing; nil when closed.
    mutating func modify<R>(_ body: (inout Connection) -> R) -> R? {
        switch state {
        case .open(var c):
            state = .modifying
            defer { state = .open(c) }
            return body(&c)
        case .closing(var c):
            state = .modifying
            defer { state = .closing(c) }
            return body(&c)
        case .closed, .modifying:
            return nil
        }
    }

    /// Mutates the connection in place while it is open; nil otherwise.
    mutating func modifyOpen<R>(_ body: (inout Connection) -> R) -> R? {
        guard case .open = state else { return nil }
        return modify(body)
    }
}
