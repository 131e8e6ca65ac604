
/// Lua shared by Echo's scripts, so the clock and the token bucket are written once.
enum LuaSnippets {
    /// Defines `now`: Redis time in milliseconds, so every worker and host shares one clock.
    static let now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """

    /// Takes one token from the bucket hash `key` (fields `tokens`, `ts`) of capacity `burst`,
    /// refilled at `rate` tokens a minute (Lua expressions), or returns `{'limited', retryAfterMs}`
    /// from the script. Needs ``now``. The same arithmetic as `TokenBucket` (unit-tested).
    static func takeToken(key: String, burst: String, rate: String) -> String {
        """
          local burst = \(burst)
          local rate = \(rate)
          local state = redis.call('HMGET', \(key), 'tokens', 'ts')
          local tokens = tonumber(state[1]) or burst
          local ts = tonumber(state[2]) or now
          if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 60000) end
          if tokens < 1 then
            return {'limited', math.ceil((1 - tokens) * 60000 / rate)}
          end
          redis.call('HSET', \(key), 'tokens', tostring(tokens - 1), 'ts', tostring(now))
          redis.call('PEXPIRE', \(key), math.ceil(burst * 60000 / rate) + 1000)
        """
    }
}
