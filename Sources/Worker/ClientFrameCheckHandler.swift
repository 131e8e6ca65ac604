import NIOCore
import NIOWebSocket

/// The RFC 6455 checks every client frame must pass, and the handler that applies them once a
/// connection fragments.
///
/// §5.1-5.2: a client masks every frame, and no extension that gives the reserved bits a meaning
/// was negotiated. NIO's decoder accepts both. A message NIO's `NIOWebSocketFrameAggregator` puts
/// together carries neither the mask nor the bits of its fragments, so the check must come before
/// the aggregator.
///
/// Browsers send whole frames, and an idle socket should carry as few handler contexts as possible
/// (each costs a few hundred bytes; S3 in docs/benchmarks.md). So ``ChatConnectionHandler`` checks
/// whole frames itself with ``isAcceptable(_:)``, and only when a message first arrives in fragments
/// does it put this handler and the aggregator in front of itself (``startsFragments(_:)``). A frame
/// that fails is dropped and reported as ``Violation``; the chat handler closes with 1002.
final class ClientFrameCheckHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    struct Violation: Error {}

    /// Masked, and no reserved bit set.
    static func isAcceptable(_ frame: WebSocketFrame) -> Bool {
        frame.maskKey != nil && !frame.rsv1 && !frame.rsv2 && !frame.rsv3
    }

    /// A first fragment, or a continuation with no start (the aggregator then fails it with 1002).
    static func startsFragments(_ frame: WebSocketFrame) -> Bool {
        frame.opcode == .continuation || (!frame.fin && (frame.opcode == .text || frame.opcode == .binary))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard Self.isAcceptable(unwrapInboundIn(data)) else {
            context.fireErrorCaught(Violation())
            return
        }
        context.fireChannelRead(data)
    }
}
