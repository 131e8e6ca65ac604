
/// How many bytes a connection may send: a token bucket refilled at `bytesPerSecond`, holding at
/// most `burst` (one maximum frame, so any single valid frame can always get through).
///
/// A frame is charged when it arrives and may take the balance below zero: the frame has been
/// read already, so the debt is paid by not reading more until the balance is back above zero
/// (back-pressure, not a close). ``pauseNanoseconds(nowNanoseconds:)`` says how long that is.
/// Pure arithmetic on a monotonic clock passed in, 16 bytes, so every connection can carry one.
public struct InboundByteBudget: Sendable, Equatable {
    public private(set) var balance: Int
    private var refilledAt: UInt64

    public init(burst: Int, nowNanoseconds: UInt64) {
        balance = burst
        refilledAt = nowNanoseconds
    }

    /// Charges `bytes`; returns whether the connection may keep reading.
    public mutating func charge(_ bytes: Int, bytesPerSecond: Int, burst: Int, nowNanoseconds: UInt64) -> Bool {
        refill(bytesPerSecond: bytesPerSecond, burst: burst, nowNanoseconds: nowNanoseconds)
        balance -= bytes
        return balance > 0
    }

    /// How long reading must pause until the balance is positive again (0 when it is).
    public mutating func pauseNanoseconds(bytesPerSecond: Int, burst: Int, nowNanoseconds: UInt64) -> UInt64 {
        refill(bytesPerSecond: bytesPerSecond, burst: burst, nowNanoseconds: nowNanoseconds)
        guard balance <= 0, bytesPerSecond > 0 else { return 0 }
        let missing = UInt64(1 - balance)
        return (missing * 1_000_000_000 + UInt64(bytesPerSecond) - 1) / UInt64(bytesPerSecond)
    }

    private mutating func refill(bytesPerSecond: Int, burst: Int, nowNanoseconds: UInt64) {
        guard nowNanoseconds > refilledAt else { return }
        let elapsed = nowNanoseconds - refilledAt
        // Whole bytes only; the remainder of the interval is kept by advancing the clock by just
        // the time those bytes took.
        let earned = elapsed.multipliedReportingOverflow(by: UInt64(bytesPerSecond))
        let bytes = earned.overflow ? UInt64(burst) : earned.partialValue / 1_000_000_000
        guard bytes > 0 else { return }
        if balance + Int(min(bytes, UInt64(burst))) >= burst {
            balance = burst
            refilledAt = nowNanoseconds
        } else {
            balance += Int(bytes)
            refilledAt += bytes * 1_000_000_000 / UInt64(bytesPerSecond)
        }
    }
}
