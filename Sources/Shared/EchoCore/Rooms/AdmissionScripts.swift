
/// The Lua scripts behind the per-IP admission limits (docs/security.md). Each runs atomically in
/// Redis on Redis's clock, so every worker of every host counts against the same figures.
///
/// Open connections of one IP live in a hash `ipconn:<ip>`: one field per worker process
/// (its instance id), valued `<count>:<expiry ms>`. A worker always writes its own absolute
/// count (at admission, at every close and on a timer), so a lost write heals at the next one, and
/// a crashed worker's field stops counting when its expiry passes.
enum AdmissionScripts {
    /// KEYS: connection hash ('' = do not count), token bucket ('' = none).
    /// ARGV: instance, this worker's count with the new connection, max connections, entry TTL ms,
    ///       bucket capacity, bucket rate per minute.
    /// Returns {'ok'} | {'connections', others} | {'limited', retryAfterMs}. A refusal changes nothing.
    static let admit = RedisScript(name: "admit", source: """
        \(LuaSnippets.now)
        if KEYS[1] ~= '' then
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
        if KEYS[2] ~= '' then
        \(LuaSnippets.takeToken(key: "KEYS[2]", burst: "tonumber(ARGV[5])", rate: "tonumber(ARGV[6])"))
        end
        if KEYS[1] ~= '' then
          redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[4])))
          redis.call('PEXPIRE', KEYS[1], ARGV[4])
        end
        return {'ok'}
        """)

    /// Writes this worker's count of an IP's open connections (0 removes its field).
    /// KEYS: connection hash. ARGV: instance, count, entry TTL ms.
    static let hold = RedisScript(name: "hold", source: """
        if tonumber(ARGV[2]) == 0 then
          redis.call('HDEL', KEYS[1], ARGV[1])
          return 0
        end
        \(LuaSnippets.now)
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[3])))
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """)
}
