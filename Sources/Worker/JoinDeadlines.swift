import NIOCore

/// Closes WebSockets that have not joined a room within `ECHO_JOIN_TIMEOUT`, without a timer per
/// connection (an idle connection must stay cheap: docs/benchmarks.md, S3).
///
/// Connections arrive in time order and all share one timeout, so their deadlines form a queue
/// already sorted: one timer per worker, ticking every second, pops the expired front. A
/// connection that joined, or closed, is skipped when its turn comes.
// @unchecked: touched on the worker's single event loop only (the hub's rule).
final class JoinDeadlines: @unchecked Sendable {
    private var queue = CircularBuffer<(deadline: NIODeadline, connection: ObjectIdentifier)>()
    private var task: RepeatedTask?

    func add(_ connection: ChatConnectionHandler, timeoutSeconds: Int) {
        guard timeoutSeconds > 0 else { return }
        queue.append((.now() + .seconds(Int64(timeoutSeconds)), ObjectIdentifier(connection)))
    }

    /// Starts the once-a-second sweep over `hub`'s open connections.
    func start(hub: ChatHub) {
        task = hub.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [weak self, weak hub] _ in
            guard let hub else { return }
            self?.expire(now: .now()) { hub.connections[$0] }
        }
    }

    func stop() {
        task?.cancel()
        task = nil
    }

    private func expire(now: NIODeadline, lookUp: (ObjectIdentifier) -> ChatConnectionHandler?) {
        while let first = queue.first, first.deadline <= now {
            queue.removeFirst()
            lookUp(first.connection)?.joinDeadlinePassed()
        }
    }
}
