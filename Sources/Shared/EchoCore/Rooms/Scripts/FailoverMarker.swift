/// Whether a resume's `since` can be trusted after the room's Redis primary changed.
///
/// Replication is asynchronous: when a replica takes over (Cluster or Sentinel failover), or a
/// primary restarts from a snapshot, the entries its predecessor acknowledged last may be gone
/// while older ones survived. A client that was away then resumes with a `since` that is still in
/// the stream, and "everything after `since`" would silently miss the lost entries.
///
/// Every new primary gets a new replication id (`INFO replication` `master_replid`: a promoted
/// replica draws one, and so does a restarted node). The join script keeps, per room
/// (``RoomKeys/primary(_:)``), the id of the primary it last ran on; when it finds another one, it
/// marks the stream's last entry as `doubtful`: every entry up to it was written by an earlier
/// primary, and may have had successors that were lost. From then on a `since` at or before that
/// mark is answered `recovered:false` with the history as it stands, even when `since` itself
/// survived. The rule is conservative: a change with nothing lost (a manual failover, a restart
/// with `appendfsync always`) costs the clients that resume across it a `recovered:false`, never a
/// gap. Entries after the mark were written by the current primary, so a client that has seen one
/// resumes normally again.
///
/// A room with no record yet (its first join, a room written before this key existed, or one
/// copied by `migrate-keys`) is trusted, as before, and recorded. Where `INFO` is not allowed in
/// scripts (a renamed command), nothing is recorded and resumes are trusted, as before.
enum FailoverMarker {
    /// Lua: records a change of primary in the hash `key` (stream `stream`, TTL `ttl`) and defines
    /// `doubtful`, the position up to which a `since` is not trusted (nil when none).
    static func check(key: String, stream: String, ttl: String) -> String {
        """
          local doubtful = nil
          local replication = redis.pcall('INFO', 'replication')
          local replid = type(replication) == 'string' and string.match(replication, 'master_replid:(%x+)')
          if replid then
            local seen = redis.call('HGET', \(key), 'replid')
            if seen and seen ~= replid then
              local last = redis.call('XREVRANGE', \(stream), '+', '-', 'COUNT', 1)
              if last[1] then redis.call('HSET', \(key), 'doubtful', last[1][1]) end
            end
            if seen ~= replid then redis.call('HSET', \(key), 'replid', replid) end
            redis.call('EXPIRE', \(key), \(ttl))
            doubtful = redis.call('HGET', \(key), 'doubtful')
          end
        """
    }

    /// Lua: whether the entry `since` (known to be in `stream`) is at or before `doubtful`.
    static func isDoubtful(since: String, stream: String) -> String {
        "(doubtful and #redis.call('XRANGE', \(stream), \(since), doubtful, 'COUNT', 1) > 0)"
    }
}
