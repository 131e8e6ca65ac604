import EchoShared
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The worker's end of the supervisor's control channel (an inherited socketpair): JSON lines in
/// both directions. End of file means the supervisor is gone, and the worker exits.
// @unchecked: `channel` is set once before any use and then only read.
final class ControlChannel: @unchecked Sendable {
    private var channel: Channel?
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    func start(fd: Int32, group: EventLoopGroup, onMessage: @escaping @Sendable (ControlMessage) -> Void) async throws {
        let logger = self.logger
        channel = try await NIOPipeBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlLineHandler(logger: logger, onMessage: onMessage))
                }
            }
            .takingOwnershipOfDescriptor(inputOutput: fd).get()
    }

    func send(_ message: ControlMessage) {
        guard let channel else { return }
        channel.writeAndFlush(ByteBuffer(bytes: message.encodedLine()), promise: nil)
    }
}

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
