import EchoShared
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The worker's link to its supervisor: its end of the control channel (an inherited socketpair): JSON lines in
/// both directions. End of file means the supervisor is gone, and the worker exits.
// @unchecked: `channel` is set once before any use and then only read.
final class SupervisorLink: @unchecked Sendable {
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
