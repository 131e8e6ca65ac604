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

    @Test func parsesTLSURLs() throws {
        let e = try RedisEndpoint(url: "rediss://echo:s%3Acret@redis.example.org:6380/1")
        #expect(e.usesTLS)
        #expect(e.address == .tcp(host: "redis.example.org", port: 6380))
        #expect(e.host == "redis.example.org")
        #expect(e.username == "echo")
        #expect(e.password == "s:cret")
        #expect(e.database == 1)
        #expect(e.description == "rediss://echo:***@redis.example.org:6380/1")
        #expect(try RedisEndpoint(url: "rediss://[::1]").address == .tcp(host: "::1", port: 6379))
        #expect(try !RedisEndpoint(url: "redis://localhost").usesTLS)
        #expect(try RedisEndpoint(url: "redis://localhost").description == "redis://localhost:6379/0")
        #expect(try !RedisEndpoint(url: "unix:///run/redis.sock").usesTLS)
        #expect(try RedisEndpoint(url: "unix:///run/redis.sock").host == nil)
    }

    @Test func parsesUnixSockets() throws {
        let e = try RedisEndpoint(url: "unix:///run/echo/redis.sock?db=3")
        #expect(e.address == .unix(path: "/run/echo/redis.sock"))
        #expect(e.database == 3)
    }

    @Test(arguments: ["http://x", "redis://h:0", "redis:/h", "rediss:h", "redisss://h", "rediss://h:0", "redis://h:99999", "redis://h/x", "unix://relative"])
    func refusesBadURLs(_ url: String) {
        #expect(throws: ConfigurationError.self) { try RedisEndpoint(url: url) }
    }
}
