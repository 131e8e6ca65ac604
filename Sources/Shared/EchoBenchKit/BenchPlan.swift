
/// Who is where in a run: connection `i` joins room `i % rooms` as member `i / rooms`, and the
/// first `senders` connections send. Spreading by modulo keeps rooms within one member of each
/// other and spreads senders evenly over rooms.
public struct BenchPlan: Sendable, Equatable {
    public var connections: Int
    public var rooms: Int
    public var senders: Int

    public init(connections: Int, rooms: Int, senders: Int) {
        self.connections = max(0, connections)
        self.rooms = max(1, min(rooms, max(1, connections)))
        self.senders = max(0, min(senders, connections))
    }

    public func room(of connection: Int) -> Int { connection % rooms }
    public func memberIndex(of connection: Int) -> Int { connection / rooms }
    public func isSender(_ connection: Int) -> Bool { connection < senders }

    /// Members room `room` will have once everyone joined.
    public func members(ofRoom room: Int) -> Int {
        connections / rooms + (room < connections % rooms ? 1 : 0)
    }
}

/// Open-loop pacing: how many messages are due after `elapsedNanoseconds` at `ratePerSecond`,
/// given how many were already sent. Deriving the count from elapsed time (not from timer ticks)
/// keeps the average rate exact even when ticks arrive late; `maximumBurst` stops a stalled
/// generator from firing a huge catch-up burst that would measure its own stall.
public struct BenchRateSchedule: Sendable, Equatable {
    public var ratePerSecond: Double
    public var maximumBurst: Int

    public init(ratePerSecond: Double, maximumBurst: Int) {
        self.ratePerSecond = ratePerSecond
        self.maximumBurst = maximumBurst
    }

    public func due(elapsedNanoseconds: UInt64, alreadySent: Int) -> Int {
        let target = Int((Double(elapsedNanoseconds) / 1e9 * ratePerSecond).rounded(.down))
        return max(0, min(maximumBurst, target - alreadySent))
    }
}
