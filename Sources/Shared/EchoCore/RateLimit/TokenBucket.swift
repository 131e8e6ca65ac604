
/// A token bucket: `capacity` tokens, refilled at `ratePerMinute`. The same arithmetic runs in the
/// chat script in Redis (per client IP, shared by every worker); this copy limits requests that
/// never reach Redis's limiter (joins and history reads) per connection.
public struct TokenBucket: Sendable, Equatable {
    public let capacity: Double
    public let ratePerMinute: Double
    public private(set) var tokens: Double
    public private(set) var updatedAtMilliseconds: Int

    public init(capacity: Int, ratePerMinute: Int, nowMilliseconds: Int) {
        self.capacity = Double(capacity)
        self.ratePerMinute = Double(ratePerMinute)
        self.tokens = Double(capacity)
        self.updatedAtMilliseconds = nowMilliseconds
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        case refused(retryAfterMilliseconds: Int)
    }

    /// Takes one token if there is one.
    public mutating func take(nowMilliseconds now: Int) -> Decision {
        if ratePerMinute <= 0 { return .allowed }
        if now > updatedAtMilliseconds {
            tokens = min(capacity, tokens + Double(now - updatedAtMilliseconds) * ratePerMinute / 60_000)
            updatedAtMilliseconds = now
        }
        guard tokens >= 1 else {
            let wait = ((1 - tokens) * 60_000 / ratePerMinute).rounded(.up)
            return .refused(retryAfterMilliseconds: Int(wait))
        }
        tokens -= 1
        return .allowed
    }
}
