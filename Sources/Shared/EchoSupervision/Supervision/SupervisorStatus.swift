import EchoShared

/// The supervisor's one-line summary for systemd's `STATUS=` (shown by `systemctl status`).
public struct SupervisorStatus: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case starting
        case serving
        case reloading(slot: Int)
        case stopping
    }

    public var phase: Phase
    public var readyWorkers: Int
    public var slots: Int
    public var connections: Int
    public var rooms: Int
    public var restarts: Int
    /// The last reload's failure, shown until a reload succeeds.
    public var reloadFailure: String?
    /// `net.ipv4.tcp_migrate_req` is off: shrinking the pool resets queued connections.
    public var migrateRequestsOff: Bool
    /// Slots whose worker keeps dying and that wait before the next start.
    public var backingOff: [SlotState]

    public init(
        phase: Phase, readyWorkers: Int, slots: Int, connections: Int = 0, rooms: Int = 0,
        restarts: Int = 0, reloadFailure: String? = nil, migrateRequestsOff: Bool = false,
        backingOff: [SlotState] = []
    ) {
        self.phase = phase
        self.readyWorkers = readyWorkers
        self.slots = slots
        self.connections = connections
        self.rooms = rooms
        self.restarts = restarts
        self.reloadFailure = reloadFailure
        self.migrateRequestsOff = migrateRequestsOff
        self.backingOff = backingOff
    }

    public var line: String {
        var parts: [String]
        switch phase {
        case .starting: parts = ["Starting: \(readyWorkers)/\(slots) workers ready"]
        case .serving: parts = ["\(readyWorkers)/\(slots) workers, \(connections) connections, \(rooms) rooms"]
        case .reloading(let slot): parts = ["Reloading slot \(slot): \(readyWorkers)/\(slots) workers, \(connections) connections"]
        case .stopping: parts = ["Stopping: draining \(connections) connections"]
        }
        if restarts > 0 { parts.append("\(restarts) restarts") }
        for slot in backingOff {
            var text = "slot \(slot.slot) backing off (\(slot.restarts) restarts"
            if let last = slot.lastExit { text += ", last: \(last)" }
            if let retry = slot.retryInMs { text += ", retry in \(Self.seconds(retry))" }
            parts.append(text + ")")
        }
        if let reloadFailure { parts.append("last reload failed: \(reloadFailure)") }
        if migrateRequestsOff { parts.append("warning: net.ipv4.tcp_migrate_req=0") }
        // STATUS= is one line; a newline would start a new notify assignment.
        return parts.joined(separator: "; ").replacingNewlines()
    }

    /// Whole seconds, or tenths under ten seconds: the line changes (and is re-sent) at most about
    /// once a second per slot while a back-off counts down.
    private static func seconds(_ milliseconds: Int) -> String {
        milliseconds >= 10_000 ? "\(milliseconds / 1000)s" : "\(milliseconds / 1000).\(milliseconds % 1000 / 100)s"
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(map { $0 == "\n" ? " " : $0 })
    }
}
