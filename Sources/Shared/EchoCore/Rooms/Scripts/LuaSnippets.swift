
/// Lua shared by Echo's scripts, so the clock and the token bucket are written once.
enum LuaSnippets {
    /// Defines `now`: Redis time in milliseconds, so every worker and host shares one clock.
    static let now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """

    /// Defines `entry`, the entry `id` of `stream` (Lua expressions), when it is a chat message;
    /// otherwise returns `{'missing'}` from the script (never written, trimmed, or deleted).
    static func chatEntry(stream: String, id: String) -> String {
        """
          local entry = redis.call('XRANGE', \(stream), \(id), \(id))[1]
          if not entry or entry[2][1] ~= '\(RoomEvent.Kind.chat.streamField ?? "")' then return {'missing'} end
        """
    }

    /// Appends a kept event to the room's `stream` (capped at `maxLength`) as its one `field`,
    /// publishes it on `channel` with `publish` (PUBLISH or SPUBLISH) in the wire format
    /// (``RoomEvent/Lua``, tag `tag`), and gives the stream and the room's `info` key `ttl` again.
    /// Defines `id`, the new entry's. All parameters are Lua expressions.
    static func appendAndPublish(
        stream: String, channel: String, info: String, maxLength: String, field: String, body: String, publish: String, tag: String, ttl: String
    ) -> String {
        """
          local id = redis.call('XADD', \(stream), 'MAXLEN', '~', \(maxLength), '*', \(field), \(body))
          redis.call(\(publish), \(channel), \(RoomEvent.Lua.storedPayload(tag: tag, id: "id", body: body)))
          redis.call('EXPIRE', \(stream), \(ttl))
          redis.call('EXPIRE', \(info), \(ttl))
        """
    }

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
