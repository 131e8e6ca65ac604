
/// Tracks the sequence numbers one receiver has seen from one sender, to tell a duplicate from a
/// late (out-of-order) arrival. Echo promises per-room total order, so in a healthy run every
/// delivery is `.inOrder` and the `missing` set stays empty.
public struct BenchSequenceTracker: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// The next number expected.
        case inOrder
        /// Ahead of the next expected number: `skipped` numbers are missing (for now). `told` when
        /// the server announced the gap first (``tell()``), so the numbers are accounted for.
        case ahead(skipped: Int, told: Bool)
        /// A number that was missing arrived late.
        case outOfOrder
        /// A number seen before.
        case duplicate
    }

    /// Gaps wider than this are counted but their numbers are not remembered, so a receiver that
    /// joined late or a sender that restarted cannot make the set grow without bound. A late
    /// arrival from such a gap is then counted as a duplicate, which errs towards reporting a fault.
    public static let maximumRememberedGap = 100_000

    public private(set) var highest = -1
    public private(set) var missing: Set<Int> = []
    /// The server said this receiver missed messages (a `history` frame with `recovered:false`
    /// while joined) and the next arrival has not come yet: the gap before it is told, not silent.
    public private(set) var gapTold = false

    public init() {}

    /// The server announced a gap (`recovered:false`): what is missing now, and what the next
    /// arrival skips, was told. Numbers missing now will not arrive: the member was reset.
    public mutating func tell() {
        missing.removeAll()
        gapTold = true
    }

    public mutating func record(_ sequence: Int) -> Outcome {
        if sequence == highest + 1 {
            highest = sequence
            gapTold = false
            return .inOrder
        }
        if sequence > highest {
            let skipped = sequence - highest - 1
            if skipped <= Self.maximumRememberedGap, !gapTold {
                for gap in (highest + 1)..<sequence { missing.insert(gap) }
            }
            highest = sequence
            let told = gapTold
            gapTold = false
            return .ahead(skipped: skipped, told: told)
        }
        return missing.remove(sequence) != nil ? .outOfOrder : .duplicate
    }
}
