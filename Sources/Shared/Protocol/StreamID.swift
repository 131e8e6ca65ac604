/// A Redis Stream entry ID (`<milliseconds>-<sequence>`): a chat message's position in its room.
/// IDs of one stream only grow, so comparing them orders messages.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `1700000000000-3` (or `1700000000000`, sequence 0). `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.count <= 41 else { return nil }
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts[0].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let ms = UInt64(parts[0]) else { return nil }
        var seq: UInt64 = 0
        if parts.count == 2 {
            guard parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let s = UInt64(parts[1]) else { return nil }
            seq = s
        }
        self.init(milliseconds: ms, sequence: seq)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
