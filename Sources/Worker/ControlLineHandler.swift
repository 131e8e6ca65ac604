import EchoShared
import Foundation
import Logging
import NIOCore

/// Splits the control channel into lines and hands each parsed ``ControlMessage`` on; the channel
/// closing means the supervisor is gone, and the worker exits.
final class ControlLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private var pending = ByteBuffer()
    private let logger: Logger
    private let onMessage: @Sendable (ControlMessage) -> Void

    init(logger: Logger, onMessage: @escaping @Sendable (ControlMessage) -> Void) {
        self.logger = logger
        self.onMessage = onMessage
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            let line = pending.readSlice(length: length)!
            pending.moveReaderIndex(forwardBy: 1)
            do {
                onMessage(try ControlMessage(line: line.readableBytesView))
            } catch {
                logger.warning("unreadable control message", metadata: ["error": "\(error)"])
            }
        }
        pending.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The supervisor died (or closed us): nobody will drain or restart this worker; its
        // clients reconnect to the workers of the next supervisor.
        logger.warning("control channel closed; supervisor gone, exiting")
        exit(0)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.warning("control channel error; exiting", metadata: ["error": "\(error)"])
        exit(0)
    }
}
