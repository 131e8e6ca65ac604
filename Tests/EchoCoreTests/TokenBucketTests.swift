@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct TokenBucketTests {
    @Test func allowsBurstThenRefusesWithRetryAfter() {
        var bucket = TokenBucket(capacity: 3, ratePerMinute: 60, nowMilliseconds: 0)
        #expect(bucket.take(nowMilliseconds: 0) == .allowed)
        #expect(bucket.take(nowMilliseconds: 0) == .allowed)
        #expect(bucket.take(nowMilliseconds: 0) == .allowed)
        #expect(bucket.take(nowMilliseconds: 0) == .refused(retryAfterMilliseconds: 1000))
        // 60/min is one token a second: after 500 ms, half a token; 500 ms more to wait.
        #expect(bucket.take(nowMilliseconds: 500) == .refused(retryAfterMilliseconds: 500))
        #expect(bucket.take(nowMilliseconds: 1000) == .allowed)
    }

    @Test func refillsNoHigherThanCapacity() {
        var bucket = TokenBucket(capacity: 2, ratePerMinute: 600, nowMilliseconds: 0)
        _ = bucket.take(nowMilliseconds: 0)
        _ = bucket.take(nowMilliseconds: 0)
        _ = bucket.take(nowMilliseconds: 3_600_000)
        #expect(bucket.tokens == 1)
    }

    @Test func zeroRateIsOff() {
        var bucket = TokenBucket(capacity: 1, ratePerMinute: 0, nowMilliseconds: 0)
        for _ in 0..<100 { #expect(bucket.take(nowMilliseconds: 0) == .allowed) }
    }
}
