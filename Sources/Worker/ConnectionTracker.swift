import NIOCore

/// The connections of a worker's public listener that still speak HTTP, so a drain can let the
/// HTTP requests already accepted finish before the process exits.
///
/// NIO's `HTTPServerPipelineHandler` does the per-connection part: told to quiesce
/// (`ChannelShouldQuiesceEvent`), it closes an idle connection at once and one with a request in
/// flight right after its response. A connection that becomes a WebSocket leaves the tracker (the
/// hub's drain closes those with the supervisor's close code), so an idle WebSocket costs nothing
/// here: ``HTTPHandler`` enters a connection when it is added and takes it out when it is removed,
/// by the upgrade or by the close (no close-future callback per connection).
// @unchecked: every member is touched only on `eventLoop` (the worker's one loop).
final class ConnectionTracker: @unchecked Sendable {
    /// How long a drain waits before asking idle connections to close: a connection accepted just
    /// before the drain has its request read by then (closing it unread would reset it).
    static let settle = TimeAmount.milliseconds(100)

    private let eventLoop: EventLoop
    private var open: [ObjectIdentifier: Channel] = [:]
    private var allClosed: [EventLoopPromise<Void>] = []

    init(eventLoop: EventLoop) {
        self.eventLoop = eventLoop
    }

    /// An HTTP connection of the public listener; on the loop.
    func opened(_ channel: Channel) {
        open[ObjectIdentifier(channel)] = channel
    }

    /// It closed, or became a WebSocket; on the loop.
    func left(_ channel: Channel) {
        guard open.removeValue(forKey: ObjectIdentifier(channel)) != nil, open.isEmpty else { return }
        let waiting = allClosed
        allClosed = []
        waiting.forEach { $0.succeed() }
    }

    /// Asks every open connection to finish what it is doing and close (after ``settle``); the
    /// future completes once all are closed or `grace` has passed, whichever is first. Never fails.
    func quiesce(within grace: TimeAmount) -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            let done = self.eventLoop.makePromise(of: Void.self)
            let finished = NIOLoopBoundBox(false, eventLoop: self.eventLoop)
            @Sendable func finish() {
                guard !finished.value else { return }
                finished.value = true
                done.succeed()
            }
            self.eventLoop.assumeIsolated().scheduleTask(in: Self.settle) {
                for channel in self.open.values {
                    channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                }
            }
            self.eventLoop.assumeIsolated().scheduleTask(in: grace) { finish() }
            if self.open.isEmpty {
                finish()
            } else {
                let promise = self.eventLoop.makePromise(of: Void.self)
                self.allClosed.append(promise)
                promise.futureResult.whenComplete { _ in finish() }
            }
            return done.futureResult
        }
    }
}
