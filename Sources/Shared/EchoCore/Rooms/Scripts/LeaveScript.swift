import NIOCore

/// Removes a member; everyone left gets the leave event (only when the member was still there).
public struct LeaveScript: RedisScriptCall {
    /// The members left.
    public typealias Response = Int

    public var roomKeys: RoomKeys
    public var room: String
    public var sessionID: String
    /// The leave event up to its `usersCount` value (see ``JoinScript/eventPrefix``).
    public var eventPrefix: ByteBuffer
    public var roomTTLSeconds: Int

    public var keys: [String] {
        [roomKeys.members(room), roomKeys.usernames(room), roomKeys.session(sessionID, room: room), roomKeys.channel(room),
         roomKeys.info(room), roomKeys.moderation(room)]
    }

    public var arguments: [RESPArgument] {
        [.string(sessionID), .bytes(eventPrefix), .integer(roomTTLSeconds), .string(roomKeys.publishCommand)]
    }

    public static let script = RedisScript(name: "leave", source: """
        local removed = redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('DEL', KEYS[3])
        redis.call('HDEL', KEYS[6], 's:' .. ARGV[1])
        \(LuaSnippets.now)
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local count = redis.call('ZCARD', KEYS[1])
        if removed == 1 then
          redis.call(ARGV[4], KEYS[4], \(RoomEvent.Lua.unstoredPayload(tag: RoomEvent.Lua.tag(.system), body: "ARGV[2] .. count .. '}'")))
        end
        if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], ARGV[3]) end
        redis.call('EXPIRE', KEYS[6], ARGV[3])
        return count
        """)

    public func decode(_ reply: RESPValue) throws -> Int {
        guard case .integer(let count) = reply else { throw unexpected(reply) }
        return count
    }
}
