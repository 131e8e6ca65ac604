import NIOCore

/// Closes WebSockets that have not joined a room within `ECHO_JOIN_TIMEOUT`, without a timer per
/// connection (an idle connection must stay cheap: docs/benchmarks.md, S3).
///
/// Connections arrive in time order and all share one timeout, so their deadlines form a queue
/// already sorted: one timer per worker, ticking every second, pops the expired front. A
/// connection that joined, or closed, is skipped when its turn comes.
// @unchecked: touched on the worker's single event loop only (the hub's rule).
final class JoinDeadlines: @unchecked Sendable {
    /// Holds each connection until its deadline, joined or closed meanwhile (then skipped): no
    /// lookup table, and a closed connection's handler is small.
    private var queue = CircularBuffer<(deadline: NIODeadline, connection: ChatConnectionHandler)>()
    private var task: RepeatedTask?

    func add(_ connection: ChatConnectionHandler, timeoutSeconds: Int) {
        guard timeoutSeconds > 0 else { return }
        queue.append((.now() + .seconds(Int64(timeoutSeconds)), connection))
    }

    /// Starts the once-a-second sweep, on `hub`'s loop.
    func start(hub: ChatHub) {
        task = hub.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self] _ in
            self?.expire(now: .now())
        }
    }

    func stop() {
        task?.cancel()
        task = nil
    }

    private func expire(now: NIODeadline) {
        while let first = queue.first, first.deadline <= now {
            queue.removeFirst()
            first.connection.joinDeadlinePassed()
        }
    }
}
