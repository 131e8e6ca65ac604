import Testing
@testable import Shared

@Suite("Origin rule")
struct OriginPolicyTests {
    @Test func noOriginIsAllowed() {
        #expect(OriginPolicy(allowed: []).allows(origin: nil, host: "chat.example.com"))
        #expect(OriginPolicy(allowed: ["https://a.example"]).allows(origin: nil, host: nil))
    }

    @Test(arguments: [
        ("https://chat.example.com", "chat.example.com"),
        ("http://chat.example.com", "chat.example.com"),
        ("HTTPS://Chat.Example.COM", "chat.example.com"),
        ("http://127.0.0.1:8080", "127.0.0.1:8080"),
        ("https://chat.example.com", "chat.example.com:443"),
        ("http://chat.example.com", "chat.example.com:80"),
        ("https://chat.example.com:443", "chat.example.com"),
        ("http://[::1]:8080", "[::1]:8080"),
    ])
    func theRequestsOwnHostIsAllowed(origin: String, host: String) {
        #expect(OriginPolicy(allowed: []).allows(origin: origin, host: host))
    }

    @Test(arguments: [
        ("https://evil.example.net", "chat.example.com"),
        ("https://chat.example.com.evil.net", "chat.example.com"),
        ("http://127.0.0.1:8081", "127.0.0.1:8080"),
        ("http://chat.example.com", "chat.example.com:443"),
        ("https://chat.example.com", "chat.example.com:80"),
        ("null", "chat.example.com"),
        ("ftp://chat.example.com", "chat.example.com"),
        ("https://user@chat.example.com", "chat.example.com"),
        ("https://chat.example.com/path", "chat.example.com"),
        ("https://", ""),
    ])
    func otherOriginsAreRefused(origin: String, host: String) {
        #expect(!OriginPolicy(allowed: []).allows(origin: origin, host: host))
    }

    @Test func noHostHeaderAllowsOnlyTheList() {
        let policy = OriginPolicy(allowed: ["https://app.example.com"])
        #expect(!policy.allows(origin: "https://chat.example.com", host: nil))
        #expect(policy.allows(origin: "https://app.example.com", host: nil))
    }

    @Test func listedOriginsAreAllowedBesidesTheHost() {
        let policy = OriginPolicy(allowed: [" https://app.example.com ", "", "http://localhost:3000"])
        #expect(policy.allows(origin: "https://APP.example.com", host: "chat.example.com"))
        #expect(policy.allows(origin: "http://localhost:3000", host: "chat.example.com"))
        #expect(policy.allows(origin: "https://chat.example.com", host: "chat.example.com"))
        #expect(!policy.allows(origin: "https://evil.example.net", host: "chat.example.com"))
    }

    @Test func starAllowsAny() {
        #expect(OriginPolicy(allowed: ["*"]).allows(origin: "https://evil.example.net", host: "chat.example.com"))
        #expect(OriginPolicy(allowed: ["*"]).allows(origin: "null", host: nil))
    }
}

@Suite("Admin address")
struct AdminAddressTests {
    @Test func parsesHostAndPort() {
        for (text, host, port) in [("127.0.0.1:9090", "127.0.0.1", 9090), ("[::1]:9090", "::1", 9090), ("0.0.0.0:0", "0.0.0.0", 0)] {
            let address = AdminAddress(text)
            #expect(address?.host == host && address?.port == port, "\(text)")
        }
    }

    @Test(arguments: ["", "9090", ":9090", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x", "[]:9090"])
    func refusesWhatIsNotHostPort(text: String) {
        #expect(AdminAddress(text) == nil)
    }

    @Test func defaultAndOff() throws {
        #expect(EchoConfiguration().adminListen == "127.0.0.1:9090")
        #expect(try EchoConfiguration(values: ["ECHO_ADMIN_LISTEN": "0"]).adminListen == "")
        #expect(try EchoConfiguration(values: ["ECHO_ADMIN_LISTEN": "0"]).environment["ECHO_ADMIN_LISTEN"] == "0")
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["ECHO_ADMIN_LISTEN": "localhost"]) }
    }
}

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

    @Test func keysNameTheIP() {
        #expect(AdmissionKeys.connections("10.0.0.1") == "ipconn:10.0.0.1")
        #expect(AdmissionKeys.handshakes("::1") == "hs:::1")
        #expect(AdmissionKeys.joins("10.0.0.1") == "jn:10.0.0.1")
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
