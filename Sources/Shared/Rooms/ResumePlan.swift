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
