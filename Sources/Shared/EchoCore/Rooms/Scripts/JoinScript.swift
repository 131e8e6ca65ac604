import NIOCore

/// Joins (or creates) a room: presence, session, the join event for everyone, and the history
/// the new member needs, all in one round trip (so no message falls between the history and the
/// live feed the member already listens to).
public struct JoinScript: RedisScriptCall {
    /// `recovered`, when the join resumes (`since`), says whether `since` is still in the stream
    /// (not trimmed, not lost with a primary whose replica never got it) and after any change of
    /// primary that may have lost its successors (``FailoverMarker``); then the messages are all
    /// those after it.
    public typealias Response = JoinOutcome

    public var roomKeys: RoomKeys
    public var room: String
    public var action: JoinRequest.Action
    public var sessionID: String
    public var username: String
    /// The session key's JSON.
    public var session: ByteBuffer
    /// The join event up to its `usersCount` value (``ServerFrames/systemEventPrefix(event:username:sessionID:timestamp:)``):
    /// the script appends the count, exact at the moment of the change.
    public var eventPrefix: ByteBuffer
    public var since: StreamID?
    public var historyLimit: Int
    public var presenceTTLMilliseconds: Int
    public var roomTTLSeconds: Int
    /// The joining member's author hash (``AuthorHasher``): recorded for a later lock, and what a
    /// `rejoin` of a locked room is let in by.
    public var authorHash: String? = nil
    /// The keyed hash of the ``OwnerKey`` offered to a `create`: stored as the room's owner only
    /// when this join makes the room.
    public var newOwnerHash: String? = nil
    /// The keyed hash of the `ownerKey` the join presented: the owner gets into a locked room.
    public var presentedOwnerHash: String? = nil
    /// The verifier of the encrypted room's key this join proved (``RoomKeyProof``); nil: a plain
    /// join, which an encrypted room refuses. A join that makes the room makes it encrypted with it.
    public var verifier: String? = nil

    /// All in the room's slot in the tagged layout (the active-rooms index is ``ActiveRoomsScript``'s).
    public var keys: [String] {
        [roomKeys.info(room), roomKeys.members(room), roomKeys.usernames(room), roomKeys.session(sessionID, room: room),
         roomKeys.stream(room), roomKeys.channel(room), roomKeys.primary(room), roomKeys.moderation(room)]
    }

    public var arguments: [RESPArgument] {
        [.string(action.rawValue), .string(sessionID), .string(username), .integer(presenceTTLMilliseconds),
         .integer(roomTTLSeconds), .bytes(session), .bytes(eventPrefix), .integer(historyLimit),
         .string(since?.description ?? ""), .string(roomKeys.publishCommand), .string(authorHash ?? ""), .string(newOwnerHash ?? ""),
         .string(presentedOwnerHash ?? ""),
         .string(RoomEncryption.infoMarker(verifier: verifier))]
    }

    public static let script = RedisScript(name: "join", source: """
        local info = redis.call('GET', KEYS[1])
        local exists = info ~= false
        if ARGV[1] == 'join' and not exists then return {'notfound'} end
        local created = 0
        local locked = 0
        if exists then
          -- The room's key before its lock: a wrong key learns nothing more about the room.
          local encrypted = string.sub(info, 1, 2) == 'v:'
          if info ~= ARGV[14] then
            if not encrypted then
              if ARGV[14] ~= '1' then return {'refused', 'plain'} end
            elseif ARGV[14] == '1' then return {'refused', 'keyrequired'}
            else return {'refused', 'badkey'} end
          end
          local mod = redis.call('HMGET', KEYS[8], 'locked', 'owner', 'a:' .. ARGV[11], 'k:' .. ARGV[11])
          if mod[1] then
            locked = 1
            local owner = mod[2] and ARGV[13] ~= '' and mod[2] == ARGV[13]
            local member = ARGV[1] == 'rejoin' and ARGV[11] ~= '' and mod[3] and not mod[4]
            if not owner and not member then return {'refused', 'locked'} end
          end
        else
          -- A new room (or one that expired): no owner, lock or record of an earlier one survives.
          redis.call('DEL', KEYS[8])
          if ARGV[1] == 'create' and ARGV[12] ~= '' then
            redis.call('HSET', KEYS[8], 'owner', ARGV[12])
            created = 1
          end
        end
        \(LuaSnippets.now)
        local ttl = tonumber(ARGV[5])
        redis.call('SET', KEYS[1], ARGV[14], 'EX', ttl)
        local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
        if #expired > 0 then
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
          for _, sid in ipairs(expired) do
            redis.call('HDEL', KEYS[3], sid)
            redis.call('HDEL', KEYS[8], 's:' .. sid)
          end
        end
        if ARGV[11] ~= '' then redis.call('HSET', KEYS[8], 's:' .. ARGV[2], ARGV[11]) end
        redis.call('EXPIRE', KEYS[8], ttl)
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[2])
        redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('EXPIRE', KEYS[3], ttl)
        redis.call('SET', KEYS[4], ARGV[6], 'EX', ttl)
        local count = redis.call('ZCARD', KEYS[2])
        redis.call(ARGV[10], KEYS[6], \(RoomEvent.Lua.unstoredPayload(tag: RoomEvent.Lua.tag(.system), body: "ARGV[7] .. count .. '}'")))
        local recovered = -1
        local entries = nil
        \(FailoverMarker.check(key: "KEYS[7]", stream: "KEYS[5]", ttl: "ttl"))
        if ARGV[9] ~= '' then
          if #redis.call('XRANGE', KEYS[5], ARGV[9], ARGV[9]) > 0 and not \(FailoverMarker.isDoubtful(since: "ARGV[9]", stream: "KEYS[5]")) then
            recovered = 1
            entries = redis.call('XRANGE', KEYS[5], '(' .. ARGV[9], '+')
          else
            recovered = 0
          end
        end
        if not entries then
          entries = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', ARGV[8])
        end
        return {'ok', count, recovered, entries, created, locked}
        """)

    /// `{'notfound'}` | `{'refused', why}` | `{'ok', usersCount, recovered (-1 no since, 0, 1), entries,
    /// created (1: this join made the room and its owner), locked}`; the entries are oldest first
    /// when recovered == 1, newest first otherwise.
    public func decode(_ reply: RESPValue) throws -> JoinOutcome {
        guard case .array(let parts) = reply, let status = parts.first?.string else { throw unexpected(reply) }
        if status == "notfound", parts.count == 1 { return .roomNotFound }
        if status == "refused", parts.count == 2, let why = parts[1].string.flatMap(JoinRefusal.init(rawValue:)) { return .refused(why) }
        guard status == "ok", parts.count == 6, let count = parts[1].int, let flag = parts[2].int,
              (-1...1).contains(flag), case .array = parts[3], let created = parts[4].int, let locked = parts[5].int else { throw unexpected(reply) }
        var events = RoomEvent.events(fromStream: parts[3])
        let recovered: Bool? = flag < 0 ? nil : flag == 1
        if recovered != true { events.reverse() }
        return .joined(
            usersCount: count, messages: StoredMessage.messages(events), recovered: recovered,
            moderation: JoinModeration(created: created == 1, locked: locked == 1))
    }
}
