import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Pauses accepting for a moment after `accept` fails with a recoverable error (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM); queued connections wait in the backlog meanwhile.
///
/// NIO's `AcceptBackoffHandler` only delays the next `read()`, which does not help here: a failed
/// accept leaves the channel's read pending, so it stays registered for readability and epoll
/// wakes the loop again at once (measured: 2 s of CPU in 3 s with it in place). Turning
/// `autoRead` off unregisters the socket from epoll; turning it back on after the pause registers
/// it again.
final class AcceptPauseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Channel

    private let pause: TimeAmount
    private let logger: Logger
    private var resume: Scheduled<Void>?
    private var lastLog: NIODeadline?
    private var failuresSinceLog = 0

    init(pause: TimeAmount, logger: Logger) {
        self.pause = pause
        self.logger = logger
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let ioError = error as? IOError, Self.isRecoverable(ioError) else {
            context.fireErrorCaught(error)
            return
        }
        record(ioError)
        guard resume == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: pause) {
            self.resume = nil
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
    }

    static func isRecoverable(_ error: IOError) -> Bool {
        [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }

    /// Logs at most once every 10 s (failures repeat every pause while the condition lasts).
    private func record(_ error: IOError) {
        failuresSinceLog += 1
        let now = NIODeadline.now()
        if let lastLog, now - lastLog < .seconds(10) { return }
        logger.warning("accept failed; pausing accepts", metadata: [
            "error": "\(error)", "pauseMs": "\(pause.nanoseconds / 1_000_000)", "failures": "\(failuresSinceLog)",
        ])
        lastLog = now
        failuresSinceLog = 0
    }
}
