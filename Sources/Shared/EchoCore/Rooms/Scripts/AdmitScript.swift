/// Checks (and on success records) one more connection of an IP against its limit, and takes a
/// token from one of its buckets (docs/security.md). Runs on Redis's clock, so every worker of
/// every host counts against the same figures. A refusal changes nothing.
///
/// Open connections of one IP live in a hash (``RoomKeys/connections(_:)``): one field per worker
/// process (its instance id), valued `<count>:<expiry ms>`. A worker always writes its own
/// absolute count (at admission, at every close and on a timer, ``HoldScript``), so a lost write
/// heals at the next one, and a crashed worker's field stops counting when its expiry passes.
public struct AdmitScript: RedisScriptCall {
    public typealias Response = AdmissionOutcome

    public var roomKeys: RoomKeys
    public var ip: String
    /// This worker process's field in the connection hashes.
    public var instance: String
    /// This worker's count with the new connection, the limit, and the entry's TTL; nil: not counted.
    public var connections: (count: Int, max: Int, ttlMilliseconds: Int)?
    /// The bucket's key and limits; nil: no bucket.
    public var bucket: (key: String, limits: AdmissionLimits.Bucket)?

    /// The connection hash (when counted), then the bucket (when any): only keys the script
    /// touches, which share the IP's slot in the tagged layout.
    public var keys: [String] {
        (connections == nil ? [] : [roomKeys.connections(ip)]) + (bucket.map { [$0.key] } ?? [])
    }

    public var arguments: [RESPArgument] {
        [.string(instance), .integer(connections?.count ?? 0), .integer(connections?.max ?? 0),
         .integer(connections?.ttlMilliseconds ?? 0), .integer(bucket?.limits.capacity ?? 0),
         .integer(bucket?.limits.ratePerMinute ?? 0), .integer(connections == nil ? 0 : 1)]
    }

    public static let script = RedisScript(name: "admit", source: """
        \(LuaSnippets.now)
        local counted = ARGV[7] == '1'
        local bucket = KEYS[counted and 2 or 1]
        if counted then
          local others = 0
          local fields = redis.call('HGETALL', KEYS[1])
          for i = 1, #fields, 2 do
            if fields[i] ~= ARGV[1] then
              local c, exp = string.match(fields[i + 1], '^(%d+):(%d+)$')
              if c and tonumber(exp) > now then
                others = others + tonumber(c)
              else
                redis.call('HDEL', KEYS[1], fields[i])
              end
            end
          end
          if others + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return {'connections', others} end
        end
        if bucket then
        \(LuaSnippets.takeToken(key: "bucket", burst: "tonumber(ARGV[5])", rate: "tonumber(ARGV[6])"))
        end
        if counted then
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[4])))
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
        end
        return {'ok'}
        """)

    /// `{'ok'}` | `{'connections', others}` | `{'limited', retryAfterMs}`.
    public func decode(_ reply: RESPValue) throws -> AdmissionOutcome {
        guard case .array(let parts) = reply, let status = parts.first?.string else { throw unexpected(reply) }
        switch (status, parts.count) {
        case ("ok", 1): return .admitted
        case ("connections", 2):
            guard let others = parts[1].int else { break }
            return .tooManyConnections(others: others)
        case ("limited", 2):
            guard let retryAfter = parts[1].int else { break }
            return .rateLimited(retryAfterMilliseconds: retryAfter)
        default: break
        }
        throw unexpected(reply)
    }
}
