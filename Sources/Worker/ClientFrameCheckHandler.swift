import NIOCore
import NIOWebSocket

/// RFC 6455 §5.1-5.2: a client masks every frame, and no extension that gives the reserved bits a
/// meaning was negotiated. NIO's decoder accepts both, so each frame is checked here, before
/// `NIOWebSocketFrameAggregator` (a message it puts together carries neither the mask nor the
/// bits of its fragments). A frame that fails is dropped and reported as ``Violation``; the chat
/// handler closes the connection with 1002.
final class ClientFrameCheckHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    struct Violation: Error {}

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.maskKey != nil, !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            context.fireErrorCaught(Violation())
            return
        }
        context.fireChannelRead(data)
    }
}
