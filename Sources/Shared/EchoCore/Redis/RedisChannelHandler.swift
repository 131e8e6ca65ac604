import NIOCore

/// Turns bytes from Redis into ``RESPValue``s (through hiredis) and hands them to its connection.
///
/// Behind a ``TLSHandler`` (`rediss://`) it also tells when TLS is up (``secured``): nothing may
/// be sent before, since a password must only ever travel to a Redis whose certificate verified.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reader = RESPReader()
    private let expectsTLS: Bool
    /// Set on the event loop right after connecting; nothing can arrive before a command is sent.
    weak var connection: RedisConnection?
    /// Completes when the TLS handshake ended (at once without TLS); fails with why it did not.
    private(set) var secured: EventLoopFuture<Void>!
    private var handshake: EventLoopPromise<Void>?

    init(expectsTLS: Bool) {
        self.expectsTLS = expectsTLS
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard expectsTLS else {
            secured = context.eventLoop.makeSucceededVoidFuture()
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        handshake = promise
        secured = promise.futureResult
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failHandshake("the connection was torn down")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is TLSHandshakeCompleted {
            handshake?.succeed()
            handshake = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        connection?.noteRead()
        do {
            try reader.feed(bytes)
            while let value = try reader.next() {
                connection?.received(value)
            }
        } catch {
            // hiredis cannot resynchronise after a protocol error: drop the connection.
            connection?.fail(error)
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection?.readComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        failHandshake("connection closed")
        connection?.fail(RedisError(.unavailable, "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failHandshake(RedisTLS.reason(error))
        connection?.fail(error)
        context.close(promise: nil)
    }

    /// The attempt took too long: what waits fails saying so, not merely "connection closed".
    func abandon(because why: String) {
        failHandshake(why)
        connection?.fail(RedisError(.timeout, why))
    }

    private func failHandshake(_ why: String) {
        guard let handshake else { return }
        self.handshake = nil
        handshake.fail(RedisError(.unavailable, "TLS handshake failed: \(why)"))
    }
}
