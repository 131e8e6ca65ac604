/// The Lua scripts behind the per-IP admission limits (docs/security.md). Each runs atomically in
/// Redis on Redis's clock, so every worker of every host counts against the same figures.
///
/// Open connections of one IP live in a hash `ipconn:<ip>`: one field per worker process
/// (its instance id), valued `<count>:<expiry ms>`. A worker always writes its own absolute
/// count (at admission, at every close and on a timer), so a lost write heals at the next one, and
/// a crashed worker's field stops counting when its expiry passes.
enum AdmissionScripts {
    private static let now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """

    /// KEYS: connection hash ('' = do not count), token bucket ('' = none).
    /// ARGV: instance, this worker's count with the new connection, max connections, entry TTL ms,
    ///       bucket capacity, bucket rate per minute.
    /// Returns {'ok'} | {'connections', others} | {'limited', retryAfterMs}. A refusal changes nothing.
    static let admit = RedisScript(name: "admit", source: """
        \(now)
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
          local burst = tonumber(ARGV[5])
          local rate = tonumber(ARGV[6])
          local state = redis.call('HMGET', KEYS[2], 'tokens', 'ts')
          local tokens = tonumber(state[1]) or burst
          local ts = tonumber(state[2]) or now
          if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 60000) end
          if tokens < 1 then
            return {'limited', math.ceil((1 - tokens) * 60000 / rate)}
          end
          redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
          redis.call('PEXPIRE', KEYS[2], math.ceil(burst * 60000 / rate) + 1000)
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
        \(now)
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[3])))
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        return 1
        """)
}
