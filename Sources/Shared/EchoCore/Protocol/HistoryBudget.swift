
/// How much of a room's history fits one reply.
///
/// A history reply is one frame, queued whole for the client: without a cap, a room full of images
/// makes a reply of up to `ECHO_HISTORY_LIMIT` × 4 MiB, held in the worker until the client read
/// it. The reply keeps the newest messages that fit `budget` bytes (always at least the newest
/// one, which on its own is bounded by the frame limit).
public enum HistoryBudget {
    /// How many of the newest messages (`sizes` is oldest first, in bytes) fit in `budget`.
    public static func keptCount(sizes: [Int], budget: Int) -> Int {
        var total = 0
        var kept = 0
        for size in sizes.reversed() {
            total += size + 1  // the comma between messages
            if total > budget && kept > 0 { break }
            kept += 1
        }
        return kept
    }
}
