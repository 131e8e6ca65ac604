/// Whether a resume's `since` can be trusted after the room's Redis primary changed.
///
/// Replication is asynchronous: when a replica takes over (Cluster or Sentinel failover), or a
/// primary restarts from a snapshot, the entries its predecessor acknowledged last may be gone
/// while older ones survived. A client that was away then resumes with a `since` that is still in
/// the stream, and "everything after `since`" would silently miss the lost entries.
///
/// The join and resync scripts keep, per room (``RoomKeys/primary(_:)``), the replication id
/// (`INFO replication` `master_replid`) of the primary they last ran on. When they find another
/// one, they decide why:
/// - a **failover**: the node was a replica of the recorded primary and was promoted, so its
///   `master_replid2` is the recorded id;
/// - a **restart**: the node started after the stream's last entry was written (`uptime_in_seconds`;
///   a restarted node draws a new id, and may have lost its last writes);
/// - otherwise, in a cluster, a **slot migration** (the room's keys moved to another primary, with
///   nothing lost), and the new id is only recorded. Without a cluster keys never move, so any
///   other id is doubted (it also covers chains: a restart then a failover, two failovers).
///
/// On a failover or a restart the stream's last entry is marked `doubtful`: every entry up to it
/// was written by an earlier primary and may have had successors that were lost. From then on a
/// position at or before the mark is answered `recovered:false` with the history as it stands,
/// even when the position itself survived. The rule is conservative: a change that lost nothing
/// (a manual failover, a restart with `appendfsync always`) costs the clients holding an older
/// position a `recovered:false`, never a gap. Entries after the mark were written by the current
/// primary, so a client that has seen one is trusted again.
///
/// A room with no record (its first join, a room written before this key existed, or one copied
/// by `migrate-keys`) is trusted, as before, and recorded. Where `INFO` may not run in scripts (a
/// renamed command), nothing is recorded and positions are trusted, as before. The limits are in
/// docs/architecture.md, "The failover marker".
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
              if last[1] then
                local promoted = string.match(replication, 'master_replid2:(%x+)') == seen
                local server = redis.pcall('INFO', 'server')
                local uptime = type(server) == 'string' and tonumber(string.match(server, 'uptime_in_seconds:(%d+)'))
                local started = tonumber(redis.call('TIME')[1]) - (uptime or 0)
                local written = tonumber(string.match(last[1][1], '^(%d+)')) / 1000
                local cluster = redis.pcall('INFO', 'cluster')
                local moved = type(cluster) == 'string' and string.find(cluster, 'cluster_enabled:1', 1, true)
                -- `started` is rounded to the second: an entry of the first second counts as before.
                if promoted or not uptime or written < started + 1 or not moved then
                  redis.call('HSET', \(key), 'doubtful', last[1][1])
                end
              end
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
