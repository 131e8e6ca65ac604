
/// Loss accounting for the measured messages of one run (or one event loop's share of it).
///
/// `expected` adds, for every measured message sent, the number of members its room had at that
/// moment (the sender included: Echo delivers to every member). `delivered` counts first arrivals
/// only, so `lost = expected - delivered` whatever the duplicates did.
public struct BenchDeliveryCounts: Sendable, Equatable, Codable {
    public var sent = 0
    public var expected = 0
    public var delivered = 0
    public var duplicated = 0
    public var outOfOrder = 0
    /// Error frames received in answer to sends (rate limited, unavailable, ...).
    public var errors = 0
    /// `recovered:false` notices received while joined: the server told a member it missed
    /// messages (its pub/sub feed broke and the stream no longer held them). Every phase counts.
    public var resyncs = 0
    /// Sequence numbers a receiver skipped without such a notice first, in every phase: the
    /// silent gaps Echo promises never to leave. A loss is told when this stays 0.
    public var silentGaps = 0

    public init() {}

    public init(sent: Int, expected: Int, delivered: Int, duplicated: Int = 0, outOfOrder: Int = 0, errors: Int = 0) {
        self.sent = sent
        self.expected = expected
        self.delivered = delivered
        self.duplicated = duplicated
        self.outOfOrder = outOfOrder
        self.errors = errors
    }

    /// Deliveries that never came. Never negative: a delivery beyond what was expected (a member
    /// the generator did not count) shows up in `unexpected` instead of hiding a loss elsewhere.
    public var lost: Int { max(0, expected - delivered) }
    public var unexpected: Int { max(0, delivered - expected) }

    /// True when nothing was lost, duplicated or reordered: any other outcome in a steady run is a
    /// bug in the server, not noise.
    public var isClean: Bool { lost == 0 && unexpected == 0 && duplicated == 0 && outOfOrder == 0 && silentGaps == 0 }

    public mutating func add(_ other: BenchDeliveryCounts) {
        sent += other.sent
        expected += other.expected
        delivered += other.delivered
        duplicated += other.duplicated
        outOfOrder += other.outOfOrder
        errors += other.errors
        resyncs += other.resyncs
        silentGaps += other.silentGaps
    }

    /// Books a skip the server did not announce first; for every stamp, measured or not.
    public mutating func recordGap(_ outcome: BenchSequenceTracker.Outcome) {
        if case .ahead(let skipped, told: false) = outcome { silentGaps += skipped }
    }

    /// Books one received stamp's tracker outcome (measured messages only).
    public mutating func record(_ outcome: BenchSequenceTracker.Outcome) {
        switch outcome {
        case .inOrder, .ahead: delivered += 1
        case .outOfOrder:
            delivered += 1
            outOfOrder += 1
        case .duplicate: duplicated += 1
        }
    }

    enum CodingKeys: String, CodingKey {
        case sent, expected, delivered, lost, duplicated, outOfOrder, errors, resyncs, silentGaps
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sent = try container.decode(Int.self, forKey: .sent)
        expected = try container.decode(Int.self, forKey: .expected)
        delivered = try container.decode(Int.self, forKey: .delivered)
        duplicated = try container.decode(Int.self, forKey: .duplicated)
        outOfOrder = try container.decode(Int.self, forKey: .outOfOrder)
        errors = try container.decode(Int.self, forKey: .errors)
        resyncs = try container.decodeIfPresent(Int.self, forKey: .resyncs) ?? 0
        silentGaps = try container.decodeIfPresent(Int.self, forKey: .silentGaps) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sent, forKey: .sent)
        try container.encode(expected, forKey: .expected)
        try container.encode(delivered, forKey: .delivered)
        try container.encode(lost, forKey: .lost)
        try container.encode(duplicated, forKey: .duplicated)
        try container.encode(outOfOrder, forKey: .outOfOrder)
        try container.encode(errors, forKey: .errors)
        try container.encode(resyncs, forKey: .resyncs)
        try container.encode(silentGaps, forKey: .silentGaps)
    }
}
