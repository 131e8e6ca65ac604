import NIOCore

/// Turns bytes from Redis into ``RESPValue``s (through hiredis) and hands them to its connection.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let reader = RESPReader()
    /// Set on the event loop right after connecting; nothing can arrive before a command is sent.
    weak var connection: RedisConnection?

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
        connection?.fail(RedisError(.unavailable, "connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        connection?.fail(error)
        context.close(promise: nil)
    }
}
