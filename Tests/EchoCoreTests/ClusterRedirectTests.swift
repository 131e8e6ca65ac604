@testable import EchoCore
import Testing

@Suite struct ClusterRedirectTests {
    @Test func movedAndAskNameTheNode() {
        // As redis-server 7.0 words them.
        #expect(ClusterRedirect(RedisError(.reply, "MOVED 15495 127.0.0.1:44697"), sender: "x") == .moved(slot: 15495, host: "127.0.0.1", port: 44697))
        #expect(ClusterRedirect(RedisError(.reply, "ASK 3999 127.0.0.1:6381"), sender: "x") == .ask(slot: 3999, host: "127.0.0.1", port: 6381))
        // IPv6 without brackets, the last colon splits off the port.
        #expect(ClusterRedirect(RedisError(.reply, "MOVED 1 ::1:7000"), sender: "x") == .moved(slot: 1, host: "::1", port: 7000))
        // A node that does not know its own address leaves the host out: it is the sender.
        #expect(ClusterRedirect(RedisError(.reply, "MOVED 2 :7000"), sender: "10.0.0.1") == .moved(slot: 2, host: "10.0.0.1", port: 7000))
    }

    @Test func busyClusterMeansRetryLater() {
        #expect(ClusterRedirect(RedisError(.reply, "TRYAGAIN Multiple keys request during rehashing of slot"), sender: "x") == .retryLater)
        #expect(ClusterRedirect(RedisError(.reply, "CLUSTERDOWN The cluster is down"), sender: "x") == .retryLater)
        #expect(ClusterRedirect(RedisError(.reply, "CLUSTERDOWN Hash slot not served"), sender: "x") == .retryLater)
    }

    @Test func otherErrorsAreNotRedirects() {
        #expect(ClusterRedirect(RedisError(.reply, "CROSSSLOT Keys in request don't hash to the same slot"), sender: "x") == nil)
        #expect(ClusterRedirect(RedisError(.reply, "NOSCRIPT No matching script"), sender: "x") == nil)
        #expect(ClusterRedirect(RedisError(.reply, "MOVED notaslot 127.0.0.1:1"), sender: "x") == nil)
        #expect(ClusterRedirect(RedisError(.reply, "MOVED 99999 127.0.0.1:1"), sender: "x") == nil)
        #expect(ClusterRedirect(RedisError(.unavailable, "MOVED 1 127.0.0.1:1"), sender: "x") == nil)
    }

    @Test func backOffIsBoundedAndDoubles() {
        #expect((0..<ClusterRedirect.retryLimit).map(ClusterRedirect.retryDelayMilliseconds) == [25, 50, 100, 200, 400])
    }
}
