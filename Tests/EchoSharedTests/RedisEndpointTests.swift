@testable import EchoShared
import Testing

@Suite struct RedisEndpointTests {
    @Test func parsesTCPWithCredentialsAndDatabase() throws {
        let e = try RedisEndpoint(url: "redis://user:p%40ss@redis.local:6380/2")
        #expect(e.address == .tcp(host: "redis.local", port: 6380))
        #expect(e.username == "user")
        #expect(e.password == "p@ss")
        #expect(e.database == 2)
        #expect(!e.description.contains("p@ss"))
    }

    @Test func parsesDefaultsAndIPv6() throws {
        #expect(try RedisEndpoint(url: "redis://localhost").address == .tcp(host: "localhost", port: 6379))
        #expect(try RedisEndpoint(url: "redis://[::1]:7000").address == .tcp(host: "::1", port: 7000))
        #expect(try RedisEndpoint(url: "redis://:secret@h:1").password == "secret")
    }

    @Test func parsesUnixSockets() throws {
        let e = try RedisEndpoint(url: "unix:///run/echo/redis.sock?db=3")
        #expect(e.address == .unix(path: "/run/echo/redis.sock"))
        #expect(e.database == 3)
    }

    @Test(arguments: ["http://x", "redis://h:0", "redis://h:99999", "redis://h/x", "unix://relative"])
    func refusesBadURLs(_ url: String) {
        #expect(throws: ConfigurationError.self) { try RedisEndpoint(url: url) }
    }
}
