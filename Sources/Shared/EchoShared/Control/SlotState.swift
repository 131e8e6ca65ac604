/// What the supervisor reports about one slot (STATUS=, `/health`, `/metrics`).
public struct SlotState: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable {
        /// Its worker accepts connections.
        case ready
        /// Its worker was started and has not reported ready yet.
        case starting
        /// Its worker died young; the next one starts after ``SlotState/retryInMs``. The slot's
        /// socket stays open: connections that land on it wait in its backlog.
        case backoff
    }

    public var slot: Int
    public var state: Phase
    /// Unplanned worker deaths on this slot since the supervisor started.
    public var restarts: Int
    /// Milliseconds until the next start, while backing off.
    public var retryInMs: Int?
    /// How the slot's last worker ended (`exit code 3`, `signal 9`).
    public var lastExit: String?

    public init(slot: Int, state: Phase, restarts: Int, retryInMs: Int? = nil, lastExit: String? = nil) {
        self.slot = slot
        self.state = state
        self.restarts = restarts
        self.retryInMs = retryInMs
        self.lastExit = lastExit
    }
}
