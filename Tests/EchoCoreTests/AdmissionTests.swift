@testable import EchoCore
import EchoShared
import Testing

@Suite("Admission limits")
struct AdmissionLimitsTests {
    @Test func defaultsAreOn() {
        let limits = AdmissionLimits(EchoConfiguration())
        #expect(limits.maxConnections == 200)
        #expect(limits.handshakes == .init(capacity: 20, ratePerMinute: 1200))
        #expect(limits.joins == .init(capacity: 120, ratePerMinute: 120))
        #expect(limits.refreshMilliseconds * 3 == limits.connectionTTLMilliseconds)
    }

    @Test func zeroTurnsEachOff() throws {
        let limits = AdmissionLimits(try EchoConfiguration(values: [
            "ECHO_MAX_CONNECTIONS_PER_IP": "0", "ECHO_HANDSHAKES_PER_IP": "0", "ECHO_JOINS_PER_IP": "0",
        ]))
        #expect(limits.maxConnections == 0 && limits.handshakes == nil && limits.joins == nil)
    }

    /// The handshake bucket (as the admit script keeps it): a second's worth at once, then one
    /// every 1/rate seconds.
    @Test func handshakeBucketArithmetic() throws {
        let limits = AdmissionLimits(try EchoConfiguration(values: ["ECHO_HANDSHAKES_PER_IP": "20"]))
        var bucket = limits.localBucket(try #require(limits.handshakes), nowMilliseconds: 0)
        for _ in 0..<20 { #expect(bucket.take(nowMilliseconds: 0) == .allowed) }
        #expect(bucket.take(nowMilliseconds: 0) == .refused(retryAfterMilliseconds: 50))
        #expect(bucket.take(nowMilliseconds: 25) == .refused(retryAfterMilliseconds: 25))
        #expect(bucket.take(nowMilliseconds: 50) == .allowed)
        #expect(bucket.take(nowMilliseconds: 1050) == .allowed)  // refilled, capped at 20
        for _ in 0..<19 { #expect(bucket.take(nowMilliseconds: 1050) == .allowed) }
        #expect(bucket.take(nowMilliseconds: 1050) != .allowed)
    }

    /// The join bucket: a minute's worth at once, then one every 60/rate seconds.
    @Test func joinBucketArithmetic() throws {
        let limits = AdmissionLimits(try EchoConfiguration(values: ["ECHO_JOINS_PER_IP": "6"]))
        var bucket = limits.localBucket(try #require(limits.joins), nowMilliseconds: 0)
        for _ in 0..<6 { #expect(bucket.take(nowMilliseconds: 0) == .allowed) }
        #expect(bucket.take(nowMilliseconds: 1000) == .refused(retryAfterMilliseconds: 9000))
        #expect(bucket.take(nowMilliseconds: 10_000) == .allowed)
    }
}

@Suite("Per-IP limit key")
struct LimitKeyTests {
    @Test(arguments: [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:db8::1", "2001:db8:0:0::/64"),
        ("2001:DB8:0:0:ffff:1:2:3", "2001:db8:0:0::/64"),
        ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
        ("::1", "0:0:0:0::/64"),
        ("unknown", "unknown"),
    ])
    func ipv6CountsByItsSlash64(ip: String, key: String) {
        #expect(ClientAddress.limitKey(ip) == key)
    }
}
