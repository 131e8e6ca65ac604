import EchoShared
import NIOCore

/// A chat message as read from a stream: its position and the frame clients receive.
public struct StoredMessage: Sendable {
    public var id: StreamID
    public var frame: ByteBuffer
}

public enum JoinOutcome: Sendable {
    case roomNotFound
    /// `messages` oldest first; `recovered` is nil when the join asked for no resume.
    case joined(usersCount: Int, messages: [StoredMessage], recovered: Bool?)
}

/// One catch-up round's answer: `covered` is aligned with the request's positions, `entries` are
/// after the oldest covered position (oldest first), `history` is the room's recent history
/// (oldest first, read only when some position was not covered).
public struct ResyncReply: Sendable {
    public var covered: [Bool]
    public var entries: [StoredMessage]
    public var history: [StoredMessage]
    public var isLastPage: Bool
}

public enum ChatOutcome: Sendable {
    /// Stored and published; everyone (the sender too) receives it through pub/sub.
    case stored(StreamID)
    /// A retry of a message stored before: `message` is the stored one, when still in history.
    case duplicate(StreamID, StoredMessage?)
    case rateLimited(retryAfterMilliseconds: Int)
}

/// Room state in Redis: membership, history, chat. Each operation is one script, one round trip.
public struct RoomStore: Sendable {
    public let redis: RedisClient
    public let configuration: EchoConfiguration
    /// How long a clientId is remembered for dedupe.
    public var dedupeSeconds = 300

    public init(redis: RedisClient, configuration: EchoConfiguration) {
        self.redis = redis
        self.configuration = configuration
    }

    /// Every script the store runs, for the client to load on each connection.
    public static let scripts = [RoomScripts.chat, RoomScripts.join, RoomScripts.leave, RoomScripts.refresh, RoomScripts.resync]

    public func join(_ request: JoinRequest, sessionID: String, timestamp: Int) -> EventLoopFuture<JoinOutcome> {
        let room = request.roomID
        let event = ServerFrames.systemEventPrefix(event: "join", username: request.username, sessionID: sessionID, timestamp: timestamp)
        var session = JSONWriter(capacity: 96)
        session.beginObject()
        session.key("roomId"); session.string(room)
        session.key("username"); session.string(request.username)
        session.key("joinedAt"); session.int(timestamp)
        session.endObject()
        let keys: [RESPArgument] = [
            .string(RoomKeys.info(room)), .string(RoomKeys.members(room)), .string(RoomKeys.usernames(room)),
            .string(RoomKeys.session(sessionID)), .string(RoomKeys.stream(room)), .string(RoomKeys.channel(room)),
            .string(RoomKeys.activeRooms),
        ]
        let args: [RESPArgument] = [
            .string(request.action.rawValue), .string(sessionID), .string(request.username),
            .integer(configuration.presenceTTLSeconds * 1000), .integer(configuration.roomTTLSeconds),
            .bytes(session.buffer), .bytes(event), .integer(configuration.historyLimit),
            .string(request.since?.description ?? ""), .string(room),
        ]
        return redis.run(RoomScripts.join, keys: keys, arguments: args).flatMapThrowing { reply in
            guard let parts = reply.array, let status = parts.first?.string else {
                throw RedisError(.protocolError, "unexpected join reply")
            }
            if status == "notfound" { return .roomNotFound }
            guard parts.count == 4, let count = parts[1].int, let recoveredFlag = parts[2].int else {
                throw RedisError(.protocolError, "unexpected join reply")
            }
            var messages = Self.messages(from: parts[3])
            let recovered: Bool? = recoveredFlag < 0 ? nil : recoveredFlag == 1
            if recovered != true { messages.reverse() }
            return .joined(usersCount: count, messages: messages, recovered: recovered)
        }
    }

    public func chat(
        room: String, body: ByteBuffer, clientID: String?, clientIP: String
    ) -> EventLoopFuture<ChatOutcome> {
        let keys: [RESPArgument] = [
            .string(RoomKeys.stream(room)), .string(RoomKeys.channel(room)), .string(RoomKeys.rateLimit(clientIP)),
            .string(clientID.map { RoomKeys.clientID(room: room, clientID: $0) } ?? ""), .string(RoomKeys.info(room)),
        ]
        let args: [RESPArgument] = [
            .bytes(body), .integer(configuration.streamMaxLength), .integer(configuration.rateLimitPerMinute),
            .integer(configuration.rateLimitBurst), .integer(configuration.roomTTLSeconds), .integer(dedupeSeconds),
        ]
        return redis.run(RoomScripts.chat, keys: keys, arguments: args).flatMapThrowing { reply in
            guard let parts = reply.array, let status = parts.first?.string, parts.count >= 2 else {
                throw RedisError(.protocolError, "unexpected chat reply")
            }
            switch status {
            case "ok":
                guard let (id, _) = Self.streamID(parts[1]) else { break }
                return .stored(id)
            case "dup":
                guard let (id, idBytes) = Self.streamID(parts[1]) else { break }
                let stored = parts.count > 2 ? parts[2].buffer.map { StoredMessage(id: id, frame: ServerFrames.chat(id: idBytes, body: $0)) } : nil
                return .duplicate(id, stored)
            case "limited":
                return .rateLimited(retryAfterMilliseconds: parts[1].int ?? 1000)
            default:
                break
            }
            throw RedisError(.protocolError, "unexpected chat reply")
        }
    }

    /// Removes a member; everyone left gets a leave event. Returns the members left.
    public func leave(room: String, sessionID: String, username: String, timestamp: Int) -> EventLoopFuture<Int> {
        let event = ServerFrames.systemEventPrefix(event: "leave", username: username, sessionID: sessionID, timestamp: timestamp)
        let keys: [RESPArgument] = [
            .string(RoomKeys.members(room)), .string(RoomKeys.usernames(room)), .string(RoomKeys.session(sessionID)),
            .string(RoomKeys.channel(room)), .string(RoomKeys.info(room)),
        ]
        return redis.run(RoomScripts.leave, keys: keys, arguments: [.string(sessionID), .bytes(event), .integer(configuration.roomTTLSeconds)])
            .map { $0.int ?? 0 }
    }

    /// The last `historyLimit` messages, oldest first.
    public func history(room: String) -> EventLoopFuture<[StoredMessage]> {
        redis.send(RESPCommand("XREVRANGE", .string(RoomKeys.stream(room)), "+", "-", "COUNT", .integer(configuration.historyLimit)))
            .map { Array(Self.messages(from: $0).reversed()) }
    }

    /// Messages after `id` (all of them when `id` is nil), oldest first, at most `limit`.
    public func messages(room: String, after id: StreamID?, limit: Int = 1000) -> EventLoopFuture<[StoredMessage]> {
        // "(" makes the range exclusive: strictly after `id`.
        let start = id.map { "(" + $0.description } ?? "-"
        return redis.send(RESPCommand("XRANGE", .string(RoomKeys.stream(room)), .string(start), "+", "COUNT", .integer(limit)))
            .map { Self.messages(from: $0) }
    }

    /// Moves this worker's members' presence expiry forward, re-adding any that Redis lost.
    public func refreshPresence(room: String, members: [(sessionID: String, username: String)]) -> EventLoopFuture<RESPValue> {
        let keys: [RESPArgument] = [
            .string(RoomKeys.members(room)), .string(RoomKeys.usernames(room)), .string(RoomKeys.info(room)),
            .string(RoomKeys.activeRooms),
        ]
        var args: [RESPArgument] = [
            .integer(configuration.presenceTTLSeconds * 1000), .integer(configuration.roomTTLSeconds), .string(room),
        ]
        args.reserveCapacity(3 + members.count * 2)
        for member in members {
            args.append(.string(member.sessionID))
            args.append(.string(member.username))
        }
        return redis.run(RoomScripts.refresh, keys: keys, arguments: args)
    }

    /// Redis's data epoch (``RoomKeys/dataEpoch``): the stored one, or `candidate` when there was
    /// none (Redis is new, or lost its data), which then becomes it. Kept alive for the room TTL
    /// from each call; workers call it at every presence refresh.
    public func dataEpoch(candidate: String) -> EventLoopFuture<String> {
        let key = RESPArgument.string(RoomKeys.dataEpoch)
        let ttl = RESPArgument.integer(configuration.roomTTLSeconds)
        let set = redis.send(RESPCommand("SET", key, .string(candidate), "NX", "GET", "EX", ttl))
        let expire = redis.send(RESPCommand("EXPIRE", key, ttl))
        return set.and(expire).map { reply, _ in reply.string ?? candidate }
    }

    /// One catch-up round for `room` (see ``RoomRecovery``).
    public func resync(room: String, request: ResyncRequest, pageSize: Int = RoomRecovery.pageSize) -> EventLoopFuture<ResyncReply> {
        let args: [RESPArgument] = [.integer(pageSize), .integer(configuration.historyLimit)]
            + request.positions.map { .string($0?.description ?? "") }
        return redis.run(RoomScripts.resync, keys: [.string(RoomKeys.stream(room))], arguments: args).flatMapThrowing { reply in
            guard let parts = reply.array, parts.count == 3, let flags = parts[0].array,
                  flags.count == request.positions.count else {
                throw RedisError(.protocolError, "unexpected resync reply")
            }
            let entries = Self.messages(from: parts[1])
            return ResyncReply(
                covered: flags.map { $0.int == 1 }, entries: entries,
                history: Array(Self.messages(from: parts[2]).reversed()), isLastPage: entries.count < pageSize
            )
        }
    }

    /// Stream entries (`[[id, [field, value, ...]], ...]`) as chat frames.
    static func messages(from reply: RESPValue) -> [StoredMessage] {
        guard let entries = reply.array else { return [] }
        var result: [StoredMessage] = []
        result.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let (id, idBytes) = streamID(parts[0]),
                  let fields = parts[1].array, fields.count >= 2, let body = fields[1].buffer else { continue }
            result.append(StoredMessage(id: id, frame: ServerFrames.chat(id: idBytes, body: body)))
        }
        return result
    }

    /// A stream entry ID in a reply: parsed, and its bytes kept to splice into the chat frame.
    static func streamID(_ value: RESPValue) -> (StreamID, ByteBuffer)? {
        guard let bytes = value.buffer, let id = bytes.withUnsafeReadableBytes({ StreamID(utf8: $0) }) else { return nil }
        return (id, bytes)
    }
}
