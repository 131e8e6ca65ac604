@testable import EchoCore
import Testing

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
