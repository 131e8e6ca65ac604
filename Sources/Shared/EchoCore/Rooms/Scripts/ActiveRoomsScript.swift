/// Marks rooms active now in the active-rooms index (``RoomKeys/activeRooms``) and drops those idle
/// longer than the room TTL. Its own call, routed by the index's key, not part of a room's script:
/// in a Redis Cluster the index lives in another slot than the rooms. Joins and presence refreshes
/// send it (a worker marks each slice of rooms it refreshes in one call); chat never does.
public struct ActiveRoomsScript: RedisScriptCall {
    /// How many rooms were marked.
    public typealias Response = Int

    public var roomKeys: RoomKeys
    public var rooms: [String]
    public var roomTTLSeconds: Int

    public var keys: [String] { [roomKeys.activeRooms] }

    /// The room TTL, then the rooms.
    public var arguments: [RESPArgument] {
        [.integer(roomTTLSeconds)] + rooms.map { .string($0) }
    }

    public static let script = RedisScript(name: "active", source: """
        \(LuaSnippets.now)
        local ttl = tonumber(ARGV[1])
        for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl * 1000)
        redis.call('EXPIRE', KEYS[1], ttl)
        return #ARGV - 1
        """)

    public func decode(_ reply: RESPValue) throws -> Int {
        guard case .integer(let count) = reply, count == rooms.count else { throw unexpected(reply) }
        return count
    }
}
