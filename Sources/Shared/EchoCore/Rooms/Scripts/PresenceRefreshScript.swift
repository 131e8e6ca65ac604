/// Keeps this worker's members alive: their expiry scores move forward and the room's keys keep
/// living while anyone is in it. Members are (re)added, not only refreshed: after a Redis restart
/// that lost data (or a stall long enough for another worker to expire them) they are still here,
/// so presence, `usersCount` and the room's info key (a `join` needs it) come back without anyone
/// rejoining. A member who left is not in the worker's list any more. The room's failover record
/// (``RoomKeys/primary(_:)``) lives as long as the room: a room nobody joined for a whole room TTL
/// while its members stayed and chatted must still know which primary served it.
public struct PresenceRefreshScript: RedisScriptCall {
    public typealias Response = Void

    public var roomKeys: RoomKeys
    public var room: String
    public var members: [(sessionID: String, username: String)]
    public var presenceTTLMilliseconds: Int
    public var roomTTLSeconds: Int
    /// The verifier of the room's key when it is encrypted: a Redis that lost the room gets it
    /// back encrypted, not as a plain room anyone could join.
    public var verifier: String? = nil

    public var keys: [String] {
        [roomKeys.members(room), roomKeys.usernames(room), roomKeys.info(room), roomKeys.primary(room), roomKeys.moderation(room)]
    }

    /// The TTLs, the room's info marker, then session id and username pairs.
    public var arguments: [RESPArgument] {
        var arguments: [RESPArgument] = [.integer(presenceTTLMilliseconds), .integer(roomTTLSeconds), .string(RoomEncryption.infoMarker(verifier: verifier))]
        arguments.reserveCapacity(3 + members.count * 2)
        for member in members {
            arguments.append(.string(member.sessionID))
            arguments.append(.string(member.username))
        }
        return arguments
    }

    public static let script = RedisScript(name: "refresh", source: """
        \(LuaSnippets.now)
        local expiry = now + tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        for i = 4, #ARGV, 2 do
          redis.call('ZADD', KEYS[1], expiry, ARGV[i])
          redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
        end
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('SET', KEYS[3], ARGV[3], 'EX', ttl)
        redis.call('EXPIRE', KEYS[4], ttl)
        redis.call('EXPIRE', KEYS[5], ttl)
        return 1
        """)

    public func decode(_ reply: RESPValue) throws {
        guard reply == .integer(1) else { throw unexpected(reply) }
    }
}
