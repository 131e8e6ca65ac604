import NIOCore

/// Reconnect delays: 100 ms doubling to 5 s, ±20 % jitter so workers do not reconnect in step.
public enum ReconnectBackoff {
    /// `jitter` in -1...1 scales the ±20 %.
    public static func delay(attempt: Int, jitter: Double) -> TimeAmount {
        let base = min(100.0 * pow2(min(attempt, 16)), 5000.0)
        let ms = base * (1 + 0.2 * max(-1, min(1, jitter)))
        return .milliseconds(Int64(ms.rounded()))
    }

    private static func pow2(_ n: Int) -> Double { Double(1 << n) }
}
