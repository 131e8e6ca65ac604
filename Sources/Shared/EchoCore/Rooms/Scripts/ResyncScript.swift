/// One catch-up round of a room after its live feed was interrupted (see ``RoomRecovery``).
/// A position is covered when its own entry is still in the stream (then nothing after it was
/// trimmed and Redis did not lose it) and is after any change of primary that may have lost its
/// successors (``FailoverMarker``, as for a resume). "Nothing seen yet" ('') is covered while the
/// stream was never trimmed and no change of primary was found; none is covered when the request
/// trusts none (``ResyncRequest/trustsNone``). The entries start after the oldest covered
/// position; the recent history is read only when some position is not covered (for the
/// `recovered:false` frame).
public struct ResyncScript: RedisScriptCall {
    public typealias Response = ResyncReply

    public var roomKeys: RoomKeys
    public var room: String
    public var request: ResyncRequest
    public var pageSize: Int
    public var historyLimit: Int
    public var roomTTLSeconds: Int

    public var keys: [String] { [roomKeys.stream(room), roomKeys.primary(room)] }

    /// Page size, history count, room TTL, whether to trust no position (1) or check each (0),
    /// then the positions oldest first ('' = nothing seen).
    public var arguments: [RESPArgument] {
        [.integer(pageSize), .integer(historyLimit), .integer(roomTTLSeconds), .integer(request.trustsNone ? 1 : 0)]
            + request.positions.map { .string($0?.description ?? "") }
    }

    public static let script = RedisScript(name: "resync", source: """
        local covered = {}
        local start = nil
        local lost = false
        \(FailoverMarker.check(key: "KEYS[2]", stream: "KEYS[1]", ttl: "ARGV[3]"))
        for i = 5, #ARGV do
          local p = ARGV[i]
          local ok = 0
          if ARGV[4] == '1' then
            ok = 0
          elseif p == '' then
            ok = doubtful and 0 or 1
            if redis.call('EXISTS', KEYS[1]) == 1 then
              local info = redis.call('XINFO', 'STREAM', KEYS[1])
              for j = 1, #info, 2 do
                if info[j] == 'max-deleted-entry-id' and info[j + 1] ~= '0-0' then ok = 0 end
              end
            end
            if ok == 1 and not start then start = '-' end
          elseif #redis.call('XRANGE', KEYS[1], p, p) > 0 and not \(FailoverMarker.isDoubtful(since: "p", stream: "KEYS[1]")) then
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

    /// `{covered flags (1/0, one per position), entries oldest first, history newest first}`.
    public func decode(_ reply: RESPValue) throws -> ResyncReply {
        guard case .array(let parts) = reply, parts.count == 3, case .array(let flags) = parts[0],
              flags.count == request.positions.count, case .array(let rawEntries) = parts[1], case .array = parts[2]
        else { throw unexpected(reply) }
        var covered: [Bool] = []
        covered.reserveCapacity(flags.count)
        for flag in flags {
            guard case .integer(let value) = flag, value == 0 || value == 1 else { throw unexpected(reply) }
            covered.append(value == 1)
        }
        return ResyncReply(
            covered: covered, entries: StoredMessage.messages(RoomEvent.events(fromStream: parts[1])),
            history: StoredMessage.messages(Array(RoomEvent.events(fromStream: parts[2]).reversed())),
            // Counted on the raw reply: an entry that does not decode still took its place in the page.
            isLastPage: rawEntries.count < pageSize
        )
    }
}
