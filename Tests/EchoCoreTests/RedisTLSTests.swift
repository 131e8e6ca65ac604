@testable import EchoCore
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
