import NIOCore

extension RedisCommands {
    /// `write`'s reply once Redis answered a `WAIT replicas timeoutMilliseconds` sent behind it,
    /// with how many replicas hold the write (fewer than `replicas` when the timeout ran out).
    ///
    /// `write` must have been sent just before, routed by `key`: the WAIT is pipelined on the same
    /// connection, so it costs no round trip of its own, and Redis holds that connection's next
    /// commands until the replicas answered: a primary never holds more than one write per
    /// connection that no replica has. If the write was sent again after the WAIT (EVALSHA answered
    /// NOSCRIPT, or a cluster redirected it), the WAIT was answered before the write's final reply
    /// and covered nothing: a second one is sent behind it.
    public func confirmedByReplicas<Reply: Sendable>(
        _ write: EventLoopFuture<Reply>, replicas: Int, timeoutMilliseconds: Int, routedBy key: String
    ) -> EventLoopFuture<(reply: Reply, replicas: Int)> {
        let command = RESPCommand("WAIT", .integer(replicas), .integer(max(1, timeoutMilliseconds)))
        let wait = send(command, routedBy: key).hop(to: eventLoop)
        let waitAnswered = NIOLoopBoundBox.makeEmptyBox(valueType: Bool.self, eventLoop: eventLoop)
        wait.whenComplete { _ in waitAnswered.value = true }
        return write.hop(to: eventLoop).flatMap { reply in
            let covering = waitAnswered.value == true ? self.send(command, routedBy: key) : wait
            return covering.flatMapThrowing { answer in
                guard let count = answer.int else {
                    throw RedisError(.reply, "WAIT answered \(answer), not a number of replicas")
                }
                return (reply, count)
            }
        }
    }
}
