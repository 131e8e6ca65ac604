import NIOCore

/// What a reaction came to.
public enum ReactOutcome: Sendable, Equatable {
    /// Stored and published (fanned out to the members granted `react`, the sender too): `on`
    /// says whether the request turned the reaction on or off.
    case stored(StreamID, on: Bool)
    /// No chat message has that ID (never, trimmed, or deleted).
    case notFound
    /// The message already has ``ReactScript/maxEmoji`` distinct emoji and this one is new.
    case tooMany
}

/// Toggles one member's reaction to a chat message, atomically, in one round trip: checks that
/// the message is there and a chat, flips the member's state for that emoji in the message's
/// reaction hash (``RoomKeys/reactions(room:message:)``, which also counts each emoji's members
/// and the message's distinct emoji, capped at ``maxEmoji``), then appends the reaction to the
/// room's stream as its own entry (a resume replays it in order; history folds it) and publishes
/// it. The body's `sessionId` and `on` are written here, since only the script knows the state it
/// flipped and which session had turned the reaction on.
///
/// A reaction belongs to the member's identity (``identity``): its author hash when it joined
/// with an `authorKey`, so a reload, a reconnect and its other tabs toggle the same reaction;
/// else its session. The stored entry and the frame name a session, never the author hash: the
/// reactor's for an `on`, for an `off` the session that turned it on (the hash keeps it), which is
/// the entry history (``StoredMessage/messages(_:)``) and clients fold away.
///
/// Every key is the room's (one slot in the tagged layout).
public struct ReactScript: RedisScriptCall {
    public typealias Response = ReactOutcome

    /// The most distinct emoji one message can carry (issue 13); history shows no more either
    /// (``StoredMessage/messages(_:)``).
    public static let maxEmoji = 20

    public var roomKeys: RoomKeys
    public var room: String
    public var target: StreamID
    public var sessionID: String
    /// The member's ``Membership/authorHash``; nil: the reaction is the session's.
    public var authorHash: String?
    public var emoji: String
    /// ``ServerFrames/reactBodyPrefix(messageID:emoji:username:)``.
    public var bodyPrefix: ByteBuffer
    public var streamMaxLength: Int
    public var roomTTLSeconds: Int

    /// Whose reaction this is, in the reaction hash's field names: `a:<author hash>` or
    /// `s:<session>`. The prefixes keep the two apart (and apart from the `e:` counts).
    public var identity: String {
        authorHash.map { "a:\($0)" } ?? "s:\(sessionID)"
    }

    public var keys: [String] {
        [roomKeys.stream(room), roomKeys.channel(room), roomKeys.info(room), roomKeys.reactions(room: room, message: target)]
    }

    /// The session goes in JSON-quoted: the hash keeps it so, and the script writes it into bodies as it is.
    public var arguments: [RESPArgument] {
        var session = ByteBuffer()
        JSONWriter.writeQuoted(sessionID, into: &session)
        return [
            .string(target.description), .integer(streamMaxLength), .integer(roomTTLSeconds), .string(roomKeys.publishCommand),
            .string(RoomEvent.Kind.react.streamField ?? ""), .string(RoomEvent.Kind.react.tag), .bytes(bodyPrefix), .string(identity),
            .bytes(session), .string(emoji), .integer(Self.maxEmoji),
        ]
    }

    public static let script = RedisScript(name: "react", source: """
        \(LuaSnippets.chatEntry(stream: "KEYS[1]", id: "ARGV[1]"))
        local mine = ARGV[8] .. ':' .. ARGV[10]
        local count = 'e:' .. ARGV[10]
        local session = redis.call('HGET', KEYS[4], mine)
        local on
        if session then
          redis.call('HDEL', KEYS[4], mine)
          if redis.call('HINCRBY', KEYS[4], count, -1) <= 0 then
            redis.call('HDEL', KEYS[4], count)
            redis.call('HINCRBY', KEYS[4], 'n', -1)
          end
          on = 'false'
        else
          if redis.call('HEXISTS', KEYS[4], count) == 0 then
            if (tonumber(redis.call('HGET', KEYS[4], 'n')) or 0) >= tonumber(ARGV[11]) then return {'full'} end
            redis.call('HINCRBY', KEYS[4], 'n', 1)
          end
          redis.call('HINCRBY', KEYS[4], count, 1)
          session = ARGV[9]
          redis.call('HSET', KEYS[4], mine, session)
          on = 'true'
        end
        local body = ARGV[7] .. session .. ',"on":' .. on .. '}'
        \(LuaSnippets.appendAndPublish(
            stream: "KEYS[1]", channel: "KEYS[2]", info: "KEYS[3]", maxLength: "ARGV[2]", field: "ARGV[5]", body: "body", publish: "ARGV[4]",
            tag: "ARGV[6]", ttl: "ARGV[3]"))
        redis.call('EXPIRE', KEYS[4], ARGV[3])
        return {'ok', id, on}
        """)

    /// `{'ok', id, 'true'|'false'}` | `{'missing'}` | `{'full'}`.
    public func decode(_ reply: RESPValue) throws -> ReactOutcome {
        guard case .array(let parts) = reply, let status = parts.first?.string else { throw unexpected(reply) }
        switch status {
        case "ok":
            guard parts.count == 3, let id = parts[1].buffer.flatMap(RoomEvent.Position.init(text:))?.id,
                  let on = parts[2].string, on == "true" || on == "false" else { throw unexpected(reply) }
            return .stored(id, on: on == "true")
        case "missing" where parts.count == 1: return .notFound
        case "full" where parts.count == 1: return .tooMany
        default: throw unexpected(reply)
        }
    }
}
