
/// The Lua scripts behind every room operation. Each runs atomically in Redis, so a chat costs one
/// round trip and the live order (PUBLISH) is the history order (XADD).
///
/// Pub/sub payloads on `room:<id>`: `C<stream id> <chat body JSON>` for a chat message,
/// `S<system event JSON>` for a join or leave.
enum RoomScripts {
    /// KEYS: stream, channel, rate-limit key, clientId key ('' for none), room info.
    /// ARGV: body, stream cap, rate per minute (0 = off), burst, room TTL s, dedupe TTL s.
    /// Returns {'ok', id} | {'dup', id, body?} | {'limited', retryAfterMs}.
    static let chat = RedisScript(name: "chat", source: """
        if KEYS[4] ~= '' then
          local seen = redis.call('GET', KEYS[4])
          if seen then
            local entry = redis.call('XRANGE', KEYS[1], seen, seen)
            if entry[1] then return {'dup', seen, entry[1][2][2]} end
            return {'dup', seen}
          end
        end
        if tonumber(ARGV[3]) > 0 then
          \(LuaSnippets.now)
        \(LuaSnippets.takeToken(key: "KEYS[3]", burst: "tonumber(ARGV[4])", rate: "tonumber(ARGV[3])"))
        end
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'd', ARGV[1])
        redis.call('PUBLISH', KEYS[2], 'C' .. id .. ' ' .. ARGV[1])
        if KEYS[4] ~= '' then redis.call('SET', KEYS[4], id, 'EX', ARGV[6]) end
        redis.call('EXPIRE', KEYS[1], ARGV[5])
        redis.call('EXPIRE', KEYS[5], ARGV[5])
        return {'ok', id}
        """)

    /// KEYS: info, members, usernames, session, stream, channel, active_rooms.
    /// ARGV: action, session id, username, presence TTL ms, room TTL s, session JSON,
    ///       join event prefix, history count, since ('' for none), room id.
    /// Returns {'notfound'} | {'ok', usersCount, recovered (-1 no since, 0, 1), entries}; entries
    /// are oldest first when recovered == 1, newest first otherwise.
    static let join = RedisScript(name: "join", source: """
        if ARGV[1] == 'join' and redis.call('EXISTS', KEYS[1]) == 0 then return {'notfound'} end
        \(LuaSnippets.now)
        local ttl = tonumber(ARGV[5])
        redis.call('SET', KEYS[1], '1', 'EX', ttl)
        local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
        if #expired > 0 then
          redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
          for _, sid in ipairs(expired) do redis.call('HDEL', KEYS[3], sid) end
        end
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[2])
        redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('EXPIRE', KEYS[3], ttl)
        redis.call('SET', KEYS[4], ARGV[6], 'EX', ttl)
        redis.call('ZADD', KEYS[7], now, ARGV[10])
        redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now - ttl * 1000)
        redis.call('EXPIRE', KEYS[7], ttl)
        local count = redis.call('ZCARD', KEYS[2])
        redis.call('PUBLISH', KEYS[6], 'S' .. ARGV[7] .. count .. '}')
        local recovered = -1
        local entries = nil
        if ARGV[9] ~= '' then
          if #redis.call('XREVRANGE', KEYS[5], ARGV[9], '-', 'COUNT', 1) > 0 then
            recovered = 1
            entries = redis.call('XRANGE', KEYS[5], '(' .. ARGV[9], '+')
          else
            recovered = 0
          end
        end
        if not entries then
          entries = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', ARGV[8])
        end
        return {'ok', count, recovered, entries}
        """)

    /// KEYS: members, usernames, session, channel, info. ARGV: session id, leave event prefix, room TTL s.
    /// Returns the members left.
    static let leave = RedisScript(name: "leave", source: """
        local removed = redis.call('ZREM', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[1])
        redis.call('DEL', KEYS[3])
        \(LuaSnippets.now)
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local count = redis.call('ZCARD', KEYS[1])
        if removed == 1 then redis.call('PUBLISH', KEYS[4], 'S' .. ARGV[2] .. count .. '}') end
        if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], ARGV[3]) end
        return count
        """)

    /// Keeps this worker's members alive: their expiry scores move forward and the room's keys keep
    /// living while anyone is in it. Members are (re)added, not only refreshed: after a Redis
    /// restart that lost data (or a stall long enough for another worker to expire them) they are
    /// still here, so presence, `usersCount` and the room's info key (a `join` needs it) come back
    /// without anyone rejoining. A member who left is not in the worker's list any more.
    /// KEYS: members, usernames, info, active_rooms.
    /// ARGV: presence TTL ms, room TTL s, room id, then session id and username pairs.
    static let refresh = RedisScript(name: "refresh", source: """
        \(LuaSnippets.now)
        local expiry = now + tonumber(ARGV[1])
        local ttl = tonumber(ARGV[2])
        for i = 4, #ARGV, 2 do
          redis.call('ZADD', KEYS[1], expiry, ARGV[i])
          redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
        end
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('SET', KEYS[3], '1', 'EX', ttl)
        redis.call('ZADD', KEYS[4], now, ARGV[3])
        redis.call('EXPIRE', KEYS[4], ttl)
        return 1
        """)

    /// One catch-up round of a room after its live feed was interrupted (see ``RoomRecovery``).
    /// A position is covered when its own entry is still in the stream: then nothing after it was
    /// trimmed and Redis did not lose it. "Nothing seen yet" ('') is covered while the stream was
    /// never trimmed. The entries start after the oldest covered position; the recent history is
    /// read only when some position is not covered (for the `recovered:false` frame).
    /// KEYS: stream. ARGV: page size, history count, positions oldest first ('' = nothing seen).
    /// Returns {covered flags (1/0, one per position), entries oldest first, history newest first}.
    static let resync = RedisScript(name: "resync", source: """
        local covered = {}
        local start = nil
        local lost = false
        for i = 3, #ARGV do
          local p = ARGV[i]
          local ok = 0
          if p == '' then
            ok = 1
            if redis.call('EXISTS', KEYS[1]) == 1 then
              local info = redis.call('XINFO', 'STREAM', KEYS[1])
              for j = 1, #info, 2 do
                if info[j] == 'max-deleted-entry-id' and info[j + 1] ~= '0-0' then ok = 0 end
              end
            end
            if ok == 1 and not start then start = '-' end
          elseif #redis.call('XRANGE', KEYS[1], p, p) > 0 then
            ok = 1
            if not start then start = '(' .. p end
          end
          if ok == 0 then lost = true end
          covered[#covered + 1] = ok
        end
        local entries = {}
        if start then entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[1]) end
        local history = {}
        if lost then history = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[2]) end
        return {covered, entries, history}
        """)
}
