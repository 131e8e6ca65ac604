import NIOCore
import NIOWebSocket

/// Checks each client frame before the chat handler sees it, and puts NIO's
/// `NIOWebSocketFrameAggregator` in the pipeline the first time a message arrives in fragments.
///
/// RFC 6455 §5.1-5.2: a client masks every frame, and no extension that gives the reserved bits a
/// meaning was negotiated. NIO's decoder accepts both, so this handler checks them on every frame;
/// it must sit before the aggregator, since a message the aggregator puts together carries neither
/// the mask nor the bits of its fragments. A frame that fails is dropped and reported as
/// ``Violation``; the chat handler closes the connection with 1002.
///
/// Browsers send whole frames: the aggregator (and its channel handler context, a few hundred
/// bytes) is only added for a connection that fragments, so an idle socket does not carry it.
final class ClientFrameCheckHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    struct Violation: Error {}

    /// The aggregator's limits (``ChatServer/addWebSocketHandlers(to:after:hub:clientIP:)``).
    private let maxMessageBytes: Int
    private let maxFragments: Int
    private var aggregating = false

    init(maxMessageBytes: Int, maxFragments: Int) {
        self.maxMessageBytes = maxMessageBytes
        self.maxFragments = maxFragments
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard frame.maskKey != nil, !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            context.fireErrorCaught(Violation())
            return
        }
        // A first fragment, or a continuation with no start (the aggregator fails that one).
        if !aggregating, frame.opcode == .continuation || (!frame.fin && (frame.opcode == .text || frame.opcode == .binary)) {
            aggregating = true
            let aggregator = NIOWebSocketFrameAggregator(
                minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: maxFragments, maxAccumulatedFrameSize: maxMessageBytes)
            do {
                try context.pipeline.syncOperations.addHandler(aggregator, position: .after(self))
            } catch {
                context.fireErrorCaught(error)
                return
            }
        }
        context.fireChannelRead(data)
    }
}
