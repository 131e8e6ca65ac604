
/// How a room whose live feed was interrupted (the worker's pub/sub connection to Redis dropped)
/// catches its members up. Pure: the hub does the I/O, these types decide.
///
/// While a room recovers, its live messages are held (``HeldMessages``) instead of delivered. A
/// round reads the room's stream after its members' positions (``ResyncRequest``); each member
/// whose position is still in the stream gets the entries after it, each member whose position is
/// gone (trimmed, or Redis lost its data) is told with a `recovered:false` history. Once every
/// member is caught up, the held messages go out, minus those a member already has: the order is
/// the stream's and nothing is delivered twice.
public enum RoomRecovery {
    /// Entries read per round; a longer gap takes more rounds.
    public static let pageSize = 1000

    /// What a round does for a member at `position`, given the round's reply.
    public enum MemberAction: Equatable, Sendable {
        /// The position is in the stream: deliver the round's entries after it.
        case replay
        /// The position is gone: send the room's recent history with `recovered:false`.
        case reset
        /// The round did not look at this position (the member arrived after it was sent).
        case skip
    }

    /// `dataLost`: Redis lost its data since the positions were taken (see ``dataLost(expected:current:)``);
    /// then no position is trusted, not even one that looks covered (Redis may be back on an older
    /// copy) or "nothing seen yet" (the messages it missed are gone without a trace).
    public static func action(for position: StreamID?, in request: ResyncRequest, covered: [Bool], dataLost: Bool = false) -> MemberAction {
        guard let index = request.positions.firstIndex(of: position), index < covered.count else { return .skip }
        return covered[index] && !dataLost ? .replay : .reset
    }

    /// Whether the data epoch changed; an unknown earlier epoch (never read) proves nothing.
    public static func dataLost(expected: String?, current: String) -> Bool {
        guard let expected else { return false }
        return expected != current
    }
}

/// The positions one round asks about: distinct, oldest first, "nothing seen yet" (nil) before
/// any ID, so the script's first covered one is where the replay starts.
public struct ResyncRequest: Equatable, Sendable {
    public let positions: [StreamID?]
    /// The hub already knows no position can be trusted (a failover it saw, Redis lost its data):
    /// the script then covers none, so its reply carries the history as it stands for the
    /// `recovered:false` frame instead of entries that would be dropped with the member's position.
    public let trustsNone: Bool

    public init(positions: some Sequence<StreamID?>, trustsNone: Bool = false) {
        let distinct = Set(positions.map { $0.map(Position.id) ?? .none })
        self.positions = distinct.sorted().map(\.streamID)
        self.trustsNone = trustsNone
    }

    /// nil sorts first.
    private enum Position: Hashable, Comparable {
        case none
        case id(StreamID)
        var streamID: StreamID? {
            if case .id(let id) = self { return id }
            return nil
        }
    }
}

/// Live messages held while a room recovers, bounded. Chat messages are in the stream, so when the
/// bound is hit the held ones are dropped and ``dropped`` says another round must read them back;
/// what happens to presence events then is only that they are not shown.
public struct HeldMessages<Frame> {
    public private(set) var entries: [(id: StreamID?, frame: Frame)] = []
    public private(set) var bytes = 0
    public let maxCount: Int
    public let maxBytes: Int
    /// Set when messages were dropped for the bound; the hub clears it when it sends a round.
    public var dropped = false

    public init(maxCount: Int = 10_000, maxBytes: Int = 8 << 20) {
        self.maxCount = maxCount
        self.maxBytes = maxBytes
    }

    public mutating func hold(id: StreamID?, frame: Frame, size: Int) {
        if entries.count + 1 > maxCount || bytes + size > maxBytes {
            entries.removeAll()
            bytes = 0
            dropped = true
        }
        entries.append((id, frame))
        bytes += size
    }

    /// Everything held, oldest first; the buffer is empty afterwards.
    public mutating func take() -> [(id: StreamID?, frame: Frame)] {
        defer {
            entries = []
            bytes = 0
        }
        return entries
    }
}
