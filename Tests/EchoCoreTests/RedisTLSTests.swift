@testable import EchoCore
import EchoShared
import EchoTLS
import NIOCore
import NIOEmbedded
import Testing

@Suite struct RedisTLSTests {
    @Test func reasonsDropOpenSSLsCodes() {
        let error = TLSError("TLS handshake", reasons: [
            "error:0A000086:SSL routines::certificate verify failed", "unable to get local issuer certificate",
        ])
        #expect(RedisTLS.reason(error) == "certificate verify failed (unable to get local issuer certificate)")
        #expect(RedisTLS.reason(TLSError("TLS handshake", reasons: [])) == "TLS handshake")
        #expect(RedisTLS.withoutCode("error:0A00010B:SSL routines::wrong version number") == "wrong version number")
        #expect(RedisTLS.withoutCode("hostname mismatch") == "hostname mismatch")
    }

    @Test func eachConnectionChecksTheHostItDialsUnlessOneNameIsSet() throws {
        let context = try TLSClientContext(caFile: nil)
        let seed = try RedisEndpoint(url: "rediss://redis.example:6379")
        var announced = seed
        announced.address = .tcp(host: "10.1.2.3", port: 6380)
        let perNode = RedisTLS(context: context)
        #expect(perNode.serverName(for: seed) == "redis.example")
        // A cluster node (or a Sentinel's primary) named by its IP is checked against that IP.
        #expect(perNode.serverName(for: announced) == "10.1.2.3")
        let shared = RedisTLS(context: context, fixedServerName: "redis.internal")
        #expect(shared.serverName(for: seed) == "redis.internal")
        #expect(shared.serverName(for: announced) == "redis.internal")
    }

    @Test func plainConnectionsAreSecuredAtOnce() throws {
        let channel = EmbeddedChannel()
        let handler = RedisChannelHandler(expectsTLS: false)
        try channel.pipeline.syncOperations.addHandler(handler)
        try handler.secured.wait()
    }

    @Test func aTLSConnectionIsSecuredByTheHandshakeEvent() throws {
        let channel = EmbeddedChannel()
        let handler = RedisChannelHandler(expectsTLS: true)
        try channel.pipeline.syncOperations.addHandler(handler)
        let done = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
        handler.secured.whenSuccess { done.value = true }
        channel.pipeline.fireUserInboundEventTriggered("something else")
        #expect(!done.value)
        channel.pipeline.fireUserInboundEventTriggered(TLSHandshakeCompleted(sessionReused: false, alpn: nil))
        #expect(done.value)
    }

    @Test func aFailedHandshakeSaysWhy() throws {
        let channel = EmbeddedChannel()
        let handler = RedisChannelHandler(expectsTLS: true)
        try channel.pipeline.syncOperations.addHandler(handler)
        channel.pipeline.fireErrorCaught(TLSError("TLS handshake", reasons: [
            "error:0A000086:SSL routines::certificate verify failed", "hostname mismatch",
        ]))
        #expect(throws: RedisError(.unavailable, "TLS handshake failed: certificate verify failed (hostname mismatch)")) {
            try handler.secured.wait()
        }
    }

    @Test func aConnectionClosedMidHandshakeSaysSo() throws {
        let channel = EmbeddedChannel()
        let handler = RedisChannelHandler(expectsTLS: true)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        _ = try channel.finish()
        #expect(throws: RedisError(.unavailable, "TLS handshake failed: connection closed")) {
            try handler.secured.wait()
        }
    }
}

@Suite struct RedisReasonTests {
    let endpoint = RedisEndpoint(address: .tcp(host: "redis.local", port: 6380))

    @Test func systemErrorsReadAsTheSystemSaysThem() {
        let refused = IOError(errnoCode: 111, reason: "connection reset (error set)")
        #expect(RedisClient.systemMessage(refused) == "Connection refused")
        #expect(RedisClient.reason(for: refused, endpoint: endpoint) == "Connection refused")
    }

    @Test func redisErrorsGiveTheirMessage() {
        #expect(RedisClient.reason(for: RedisError(.reply, "WRONGPASS invalid"), endpoint: endpoint) == "WRONGPASS invalid")
    }

    @Test func connectTimeoutsNameTheAddress() {
        let error = ChannelError.connectTimeout(.milliseconds(2000))
        #expect(RedisClient.reason(for: error, endpoint: endpoint) == "cannot connect to redis.local:6380: no answer within 2000 ms")
    }
}
