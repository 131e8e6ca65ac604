import NIOCore

/// One TCP or unix-socket connection to Redis. Commands are pipelined: each is written at once and
/// its reply is matched by order; writes are flushed once per event-loop pass.
///
/// In subscriber mode, pushed messages (``isPush(_:)``) go to ``onPush`` instead of a waiting command.
// @unchecked: every property is read and written on `channel.eventLoop` only (asserted on entry).
final class RedisConnection: @unchecked Sendable {
    struct Pending {
        var promise: EventLoopPromise<RESPValue>
        var sentAt: NIODeadline
    }

    let channel: Channel
    let isSubscriber: Bool
    private var pending = CircularBuffer<Pending>(initialCapacity: 64)
    private var flushScheduled = false
    private var failed = false
    /// Pushed messages on a subscriber connection.
    var onPush: ((RESPValue) -> Void)?
    /// End of a batch of reads: the time to flush what the pushes wrote.
    var onReadComplete: (() -> Void)?
    /// Called once when the connection is lost, with why.
    var onClose: ((Error) -> Void)?

    init(channel: Channel, isSubscriber: Bool) {
        self.channel = channel
        self.isSubscriber = isSubscriber
    }

    var eventLoop: EventLoop { channel.eventLoop }
    var pendingCount: Int { pending.count }

    /// Sends `command`; the future holds its reply (an error reply fails it with ``RedisError``).
    func send(_ command: RESPCommand) -> EventLoopFuture<RESPValue> {
        eventLoop.assertInEventLoop()
        guard !failed else {
            return eventLoop.makeFailedFuture(RedisError(.unavailable, "connection closed"))
        }
        let promise = eventLoop.makePromise(of: RESPValue.self)
        pending.append(Pending(promise: promise, sentAt: .now()))
        var buffer = channel.allocator.buffer(capacity: 64)
        RESPCodec.encode(command, into: &buffer)
        channel.write(buffer, promise: nil)
        scheduleFlush()
        return promise.futureResult
    }

    /// Writes `command` without waiting for a reply (its answer must arrive as a push).
    func sendWithoutReply(_ command: RESPCommand) {
        eventLoop.assertInEventLoop()
        guard !failed else { return }
        var buffer = channel.allocator.buffer(capacity: 64)
        RESPCodec.encode(command, into: &buffer)
        channel.write(buffer, promise: nil)
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        // Everything sent during this event-loop pass goes out in one write system call.
        eventLoop.execute {
            self.flushScheduled = false
            self.channel.flush()
        }
    }

    /// When bytes last came from Redis: a connection that is still answering is alive, however
    /// far behind this event loop is in reading the answers.
    private(set) var lastRead = NIODeadline.now()

    func noteRead() {
        lastRead = .now()
    }

    func received(_ value: RESPValue) {
        if isSubscriber, case .array(let parts) = value, let kind = parts.first?.buffer, Self.isPush(kind) {
            onPush?(value)
            return
        }
        guard let next = pending.popFirst() else {
            fail(RedisError(.protocolError, "reply without a command"))
            channel.close(promise: nil)
            return
        }
        if case .error(let message) = value {
            next.promise.fail(RedisError(.reply, message))
        } else {
            next.promise.succeed(value)
        }
    }

    /// `message`, `smessage` (sharded pub/sub) and `sunsubscribe`: Redis sends the last one unasked
    /// when a slot leaves the node, and Echo sends `SUNSUBSCRIBE` without waiting for a reply.
    private static func isPush(_ kind: ByteBuffer) -> Bool {
        switch kind.readableBytes {
        case 7: return kind.readableBytesView.elementsEqual("message".utf8)
        case 8: return kind.readableBytesView.elementsEqual("smessage".utf8)
        case 12: return kind.readableBytesView.elementsEqual("sunsubscribe".utf8)
        default: return false
        }
    }

    func readComplete() {
        onReadComplete?()
    }

    /// Fails every waiting command; the connection is unusable afterwards.
    func fail(_ error: Error) {
        guard !failed else { return }
        failed = true
        let pendingNow = pending
        pending.removeAll()
        for p in pendingNow { p.promise.fail(error is RedisError ? error : RedisError(.unavailable, "\(error)")) }
        onClose?(error)
        onClose = nil
    }

    /// How long Redis has been silent while a command waits: since the later of the oldest
    /// command's send and the last bytes read. `nil` when nothing waits.
    func silentWait(now: NIODeadline) -> TimeAmount? {
        pending.first.map { now - max($0.sentAt, lastRead) }
    }

    func close() {
        fail(RedisError(.unavailable, "connection closed"))
        channel.close(promise: nil)
    }
}
