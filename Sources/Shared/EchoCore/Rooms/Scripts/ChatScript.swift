import NIOCore

/// Stores an event the room keeps (a chat message) and publishes it, atomically: one round trip
/// per message, and the live order (PUBLISH) is the history order (XADD). A retry of an event
/// stored before under the same `clientId` is not stored again: the stored one is returned.
///
/// The kind's stream field and tag are arguments, so another stored kind runs the same script;
/// so is the publish command (``RoomKeys/publishCommand``), so one script serves both layouts.
public struct ChatScript: RedisScriptCall {
    public typealias Response = ChatOutcome

    public var roomKeys: RoomKeys
    public var room: String
    public var kind: RoomEvent.Kind = .chat
    /// The stored JSON (``RoomEvent/chat(_:body:)``'s body).
    public var body: ByteBuffer
    public var clientID: String?
    /// Stored in the entry's `a` field (``RoomEvent/authorField``); never published.
    public var author: String? = nil
    public var clientIP: String
    public var streamMaxLength: Int
    /// 0 turns the limit off.
    public var ratePerMinute: Int
    public var burst: Int
    public var roomTTLSeconds: Int
    public var dedupeSeconds: Int

    /// All in the room's slot in the tagged layout; the dedupe key last, only with a `clientId`.
    public var keys: [String] {
        let keys = [roomKeys.stream(room), roomKeys.channel(room), roomKeys.rateLimit(ip: clientIP, room: room), roomKeys.info(room)]
        guard let clientID else { return keys }
        return keys + [roomKeys.dedupe(room: room, clientID: clientID)]
    }

    public var arguments: [RESPArgument] {
        [.bytes(body), .integer(streamMaxLength), .integer(ratePerMinute), .integer(burst),
         .integer(roomTTLSeconds), .integer(dedupeSeconds), .string(kind.tag), .string(kind.streamField ?? ""),
         .string(roomKeys.publishCommand), .string(author ?? "")]
    }

    public static let script = RedisScript(name: "chat", source: """
        if KEYS[5] then
          local seen = redis.call('GET', KEYS[5])
          if seen then
            local entry = redis.call('XRANGE', KEYS[1], seen, seen)
            if entry[1] then return {'dup', seen, entry[1]} end
            return {'dup', seen}
          end
        end
        if tonumber(ARGV[3]) > 0 then
          \(LuaSnippets.now)
        \(LuaSnippets.takeToken(key: "KEYS[3]", burst: "tonumber(ARGV[4])", rate: "tonumber(ARGV[3])"))
        end
        local id
        if ARGV[10] ~= '' then
          id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', ARGV[8], ARGV[1], '\(RoomEvent.authorField)', ARGV[10])
        else
          id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', ARGV[8], ARGV[1])
        end
        redis.call(ARGV[9], KEYS[2], \(RoomEvent.Lua.storedPayload(tag: "ARGV[7]", id: "id", body: "ARGV[1]")))
        if KEYS[5] then redis.call('SET', KEYS[5], id, 'EX', ARGV[6]) end
        redis.call('EXPIRE', KEYS[1], ARGV[5])
        redis.call('EXPIRE', KEYS[4], ARGV[5])
        return {'ok', id}
        """)

    /// `{'ok', id}` | `{'dup', id, entry?}` | `{'limited', retryAfterMs}`.
    public func decode(_ reply: RESPValue) throws -> ChatOutcome {
        guard case .array(let parts) = reply, parts.count >= 2, let status = parts[0].string else { throw unexpected(reply) }
        let id = parts[1].buffer.flatMap(RoomEvent.Position.init(text:))?.id
        switch status {
        case "ok":
            guard let id else { break }
            return .stored(id)
        case "dup":
            guard let id else { break }
            return .duplicate(id, parts.count > 2 ? RoomEvent(streamEntry: parts[2]).flatMap(StoredMessage.init) : nil)
        case "limited":
            guard let retryAfter = parts[1].int else { break }
            return .rateLimited(retryAfterMilliseconds: retryAfter)
        default:
            break
        }
        throw unexpected(reply)
    }
}
