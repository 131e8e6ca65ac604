/// How a join turns history plus the live messages that raced it into one gapless, duplicate-free
/// sequence. Pure: unit-tested without Redis.
public enum ResumePlan {
    /// The live messages buffered while the join read the stream, in arrival order, minus those
    /// the history already held (a chat at or below `lastSeen`). System events (no id) all stay.
    public static func liveAfterHistory<Frame>(_ buffered: [(id: StreamID?, frame: Frame)], lastSeen: StreamID?) -> [(id: StreamID?, frame: Frame)] {
        guard let lastSeen else { return buffered }
        return buffered.filter { entry in
            guard let id = entry.id else { return true }
            return id > lastSeen
        }
    }

    /// The position the client has seen once the history is sent: the newest replayed message,
    /// or, when nothing newer was replayed, the position it resumed from.
    public static func lastSeen(history: [StreamID], since: StreamID?) -> StreamID? {
        history.last ?? since
    }
}
