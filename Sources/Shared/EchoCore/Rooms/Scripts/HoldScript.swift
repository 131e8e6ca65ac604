/// Writes this worker's count of an IP's open connections (0 removes its field), see ``AdmitScript``.
public struct HoldScript: RedisScriptCall {
    public typealias Response = Void

    public var roomKeys: RoomKeys
    public var ip: String
    public var instance: String
    public var count: Int
    public var ttlMilliseconds: Int

    public var keys: [String] { [roomKeys.connections(ip)] }
    public var arguments: [RESPArgument] { [.string(instance), .integer(count), .integer(ttlMilliseconds)] }

    public static let script = RedisScript(name: "hold", source: """
        if tonumber(ARGV[2]) == 0 then
          redis.call('HDEL', KEYS[1], ARGV[1])
          return 0
        end
        \(LuaSnippets.now)
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[3])))
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """)

    /// 1 when written, 0 when removed.
    public func decode(_ reply: RESPValue) throws {
        guard reply == .integer(0) || reply == .integer(1) else { throw unexpected(reply) }
    }
}
