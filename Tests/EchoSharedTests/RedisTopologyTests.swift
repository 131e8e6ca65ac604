@testable import EchoShared
import Testing

@Suite struct RedisTopologyTests {
    @Test func plainURLsNameOneNode() throws {
        #expect(try RedisTopology(url: "redis://h:7000") == .single(RedisEndpoint(address: .tcp(host: "h", port: 7000))))
        #expect(try !RedisTopology(url: "unix:///run/r.sock").isCluster)
    }

    @Test func clusterURLsNameSeedsWithSharedCredentials() throws {
        let topology = try RedisTopology(url: "redis+cluster://echo:s%40cret@10.0.0.1:7000,10.0.0.2,[::1]:7002/")
        guard case .cluster(let seeds) = topology else {
            Issue.record("not a cluster: \(topology)")
            return
        }
        #expect(seeds.map(\.address) == [.tcp(host: "10.0.0.1", port: 7000), .tcp(host: "10.0.0.2", port: 6379), .tcp(host: "::1", port: 7002)])
        #expect(seeds.allSatisfy { $0.username == "echo" && $0.password == "s@cret" && !$0.usesTLS })
        #expect(topology.isCluster)
        #expect(topology.description == "redis+cluster://10.0.0.1:7000,10.0.0.2:6379,[::1]:7002/")
        #expect(try RedisTopology(url: "rediss+cluster://h:7000").usesTLS)
    }

    @Test func sentinelURLsNameThePrimary() throws {
        let topology = try RedisTopology(url: "redis+sentinel://:pw@s1:26379,s2:26380/mymaster")
        #expect(topology == .sentinel(
            sentinels: [RedisEndpoint(address: .tcp(host: "s1", port: 26379), password: "pw"),
                        RedisEndpoint(address: .tcp(host: "s2", port: 26380), password: "pw")],
            primaryName: "mymaster"))
        #expect(topology.description == "redis+sentinel://s1:26379,s2:26380/mymaster")
        let tls = try RedisTopology(url: "rediss+sentinel://:pw@s1:26379,s2:26380/mymaster")
        #expect(tls.usesTLS && tls.endpoints.allSatisfy { $0.usesTLS && $0.password == "pw" })
        #expect(tls.description == "rediss+sentinel://s1:26379,s2:26380/mymaster")
    }

    @Test(arguments: [
        "redis+cluster://", "redis+cluster://a:1,,b:2/", "redis+cluster://a:1/3", "redis+cluster://a:99999/",
        "redis+sentinel://s:26379", "redis+sentinel://s:26379/", "redis+sentinel://s:26379/a/b", "http://x",
    ])
    func refusesMalformedURLs(url: String) {
        #expect(throws: ConfigurationError.self) { try RedisTopology(url: url) }
    }
}
