import EchoCore
import NIOCore

extension ChatConnectionHandler {
    /// Tells a member that the room's history no longer reaches back to its position (trimmed, or
    /// Redis restarted without its data): the frame a `join` with a lost `since` gets, the room's
    /// recent history with `recovered:false`. The member continues from the newest message in it.
    /// The hub flushes.
    func resync(history: [StoredMessage]) {
        if let frame = machine.resync(history: history) { write(frame, flush: false) }
    }
}
