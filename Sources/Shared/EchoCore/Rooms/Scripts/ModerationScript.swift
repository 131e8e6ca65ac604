import NIOCore

/// What the moderation check of a join needs (``JoinScript``), as keyed hashes (``AuthorHasher``).
public struct JoinGate: Sendable, Equatable {
    /// The joining member's author hash.
    public var authorHash: String?
    /// The hash of the owner key offered to a `create` (stored only if the join makes the room).
    public var newOwnerHash: String?
    /// The hash of the `ownerKey` the join presented.
    public var presentedOwnerHash: String?
    public init(authorHash: String? = nil, newOwnerHash: String? = nil, presentedOwnerHash: String? = nil) {
        self.authorHash = authorHash
        self.newOwnerHash = newOwnerHash
        self.presentedOwnerHash = presentedOwnerHash
    }
}

/// What a kick or a lock came to.
public enum ModerationOutcome: Sendable, Equatable {
    /// Done and published (the kick's System event, or the lock frame).
    case done
    /// The owner key is not the room's (or the room has no owner).
    case notOwner
    /// The session to kick is not a member of the room (left, or never was): nothing done.
    case notMember
    /// The session to kick is the asking member's own author (another tab of its own).
    case yourself
}

/// A room owner's `kick` or `lock`, atomically, in one round trip on the room's slot: checks the
/// owner key's hash against the room's (``RoomKeys/moderation(_:)`` `owner`), then
///
/// - kick: takes the member's author hash out of the lock's allowed set and marks it kicked (a
///   kicked author is never let into the locked room, nor recorded by a later lock), and publishes
///   the kick event (``RoomEvent/kick(_:target:author:)``) with the member's name and author hash,
///   on which every worker closes that member's connections with 4001;
/// - lock: records the author hash of every present member (`a:<hash>`: a `rejoin` with it gets
///   in), kicked authors excepted, and sets `locked`; unlock clears both; either publishes the
///   lock frame (``RoomEvent/lock(_:)``).
///
/// Events are published, never stored: the state lives in the moderation hash, which a join reads.
public struct ModerationScript: RedisScriptCall {
    public typealias Response = ModerationOutcome

    public var roomKeys: RoomKeys
    public var room: String
    public var operation: ModerationRequest.Operation
    public var ownerHash: String
    /// The asking member's author hash (nil: none).
    public var kicker: String?
    public var timestamp: Int
    public var roomTTLSeconds: Int

    public var keys: [String] {
        [roomKeys.moderation(room), roomKeys.members(room), roomKeys.usernames(room), roomKeys.channel(room)]
    }

    public var arguments: [RESPArgument] {
        switch operation {
        case .kick(let target):
            return [.string("kick"), .string(ownerHash), .string(roomKeys.publishCommand), .integer(roomTTLSeconds), .string(target),
                    .string(kicker ?? ""), .bytes(ServerFrames.kickEventPrefix(sessionID: target, timestamp: timestamp)),
                    .string(RoomEvent.Kind.kick.tag)]
        case .lock(let locked):
            return [.string(locked ? "lock" : "unlock"), .string(ownerHash), .string(roomKeys.publishCommand), .integer(roomTTLSeconds),
                    .string(""), .string(""), .bytes(ServerFrames.lock(locked: locked)), .string(RoomEvent.Kind.lock.tag)]
        }
    }

    public static let script = RedisScript(name: "moderate", source: """
        local owner = redis.call('HGET', KEYS[1], 'owner')
        if not owner or owner ~= ARGV[2] then return {'notOwner'} end
        \(LuaSnippets.now)
        if ARGV[1] == 'kick' then
          local sid = ARGV[5]
          local name = redis.call('HGET', KEYS[3], sid)
          local expiry = redis.call('ZSCORE', KEYS[2], sid)
          if not name or not expiry or tonumber(expiry) <= now then return {'notMember'} end
          local author = redis.call('HGET', KEYS[1], 's:' .. sid)
          if author and author == ARGV[6] then return {'yourself'} end
          local suffix = ''
          if author then
            redis.call('HDEL', KEYS[1], 'a:' .. author)
            redis.call('HSET', KEYS[1], 'k:' .. author, '1')
            suffix = ',"author":"' .. author .. '"'
          end
          -- Names pass the username rule before Echo stores them; anything else is not spliced.
          if string.find(name, '[%c"<>&\\\\]') then name = '' end
          redis.call(ARGV[3], KEYS[4], \(RoomEvent.Lua.unstoredPayload(tag: "ARGV[8]", body: "ARGV[7] .. '\"' .. name .. '\"' .. suffix .. '}'")))
        else
          if ARGV[1] == 'lock' then
            redis.call('HSET', KEYS[1], 'locked', '1')
            for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf')) do
              local author = redis.call('HGET', KEYS[1], 's:' .. sid)
              if author and redis.call('HEXISTS', KEYS[1], 'k:' .. author) == 0 then
                redis.call('HSET', KEYS[1], 'a:' .. author, '1')
              end
            end
          else
            redis.call('HDEL', KEYS[1], 'locked')
            for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
              if string.sub(field, 1, 2) == 'a:' then redis.call('HDEL', KEYS[1], field) end
            end
          end
          redis.call(ARGV[3], KEYS[4], \(RoomEvent.Lua.unstoredPayload(tag: "ARGV[8]", body: "ARGV[7]")))
        end
        redis.call('EXPIRE', KEYS[1], ARGV[4])
        return {'ok'}
        """)

    /// `{'ok'}` | `{'notOwner'}` | `{'notMember'}` | `{'yourself'}`.
    public func decode(_ reply: RESPValue) throws -> ModerationOutcome {
        guard case .array(let parts) = reply, parts.count == 1, let status = parts[0].string else { throw unexpected(reply) }
        switch status {
        case "ok": return .done
        case "notOwner": return .notOwner
        case "notMember": return .notMember
        case "yourself": return .yourself
        default: throw unexpected(reply)
        }
    }
}
