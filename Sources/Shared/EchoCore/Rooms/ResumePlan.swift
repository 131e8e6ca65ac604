
/// How a join turns history plus the live messages that raced it into one gapless, duplicate-free
/// sequence. Pure: unit-tested without Redis.
public enum ResumePlan {
    /// The live messages buffered while the join read the stream, in arrival order, minus those
    /// the history already held (a chat at or below `lastSeen`). System events (no id) all stay.
    public static func liveAfterHistory<Frame>(_ buffered: [(id: StreamID?, frame: Frame)], lastSeen: StreamID?) -> [(id: StreamID?, frame: Frame)] {
        buffered.filter { isNew($0.id, after: lastSeen) }
    }

    /// The one duplicate rule: a chat message is new to a client unless it is at or below the
    /// newest position that client has; system events (no id) are always new.
    public static func isNew(_ id: StreamID?, after lastSeen: StreamID?) -> Bool {
        guard let id, let lastSeen else { return true }
        return id > lastSeen
    }

    /// The position the client has seen once the history is sent: the newest replayed message,
    /// or, when nothing newer was replayed, the position it resumed from.
    public static func lastSeen(history: [StreamID], since: StreamID?) -> StreamID? {
        history.last ?? since
    }
}

extension ResumePlan {
    /// Below which position a retried chat's stored copy is sent straight to its sender. Anything
    /// at or above it reaches the connection through the room (live, or replayed after a Redis
    /// fault), so sending it again would be a duplicate, and out of order. A resume that was
    /// recovered covers everything after `since`: nothing is sent. Otherwise only a message older
    /// than the history the join handed over can be missing from the connection.
    public static func duplicateFloor(history: [StreamID], recovered: Bool?) -> StreamID? {
        recovered == true ? nil : history.first
    }

    public static func confirmsDuplicate(_ id: StreamID, floor: StreamID?) -> Bool {
        guard let floor else { return false }
        return id < floor
    }
}
