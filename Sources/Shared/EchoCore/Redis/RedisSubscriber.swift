import EchoShared
import Logging
import NIOCore

/// Pub/sub on a connection of its own, reference-counted per channel: the first interested party
/// subscribes, the last one to leave unsubscribes. A worker thus receives only the rooms it has
/// members in. After a reconnect every channel still wanted is subscribed again.
// @unchecked: all mutable state lives on `client.eventLoop` (entry points assert it).
public final class RedisSubscriber: @unchecked Sendable {
    private enum Subscription {
        case pending(EventLoopPromise<Void>)
        case active
    }

    private struct Entry {
        var count: Int
        var subscription: Subscription
    }

    public let client: RedisClient
    private var channels: [String: Entry] = [:]

    /// A message on `channel`, with its payload.
    public var onMessage: ((_ channel: ByteBuffer, _ payload: ByteBuffer) -> Void)?
    /// End of a batch of messages (flush what they wrote).
    public var onBatchEnd: (() -> Void)?
    /// After a reconnect, once every channel is subscribed again: time to fill the gap.
    public var onResubscribed: (() -> Void)?
    /// The connection was lost: from now until ``onResubscribed``, messages published to the
    /// channels are not delivered here (they must be read back from the streams).
    public var onLost: (() -> Void)?

    public init(endpoint: RedisEndpoint, tls: RedisTLS? = nil, eventLoop: EventLoop, timeout: TimeAmount, logger: Logger) {
        client = RedisClient(endpoint: endpoint, tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger, isSubscriber: true)
        // Weak: a reconnect may still be in flight when the subscriber is released.
        client.onPush = { [weak self] value in
            guard let self, let parts = value.array, parts.count == 3, let channel = parts[1].buffer, let payload = parts[2].buffer else { return }
            self.onMessage?(channel, payload)
        }
        client.onReadComplete = { [weak self] in self?.onBatchEnd?() }
        client.onAvailabilityChange = { [weak self] available in
            if !available { self?.onLost?() }
        }
        client.prepare = { [weak self] connection in
            self?.resubscribe(connection) ?? connection.eventLoop.makeSucceededVoidFuture()
        }
    }

    public var eventLoop: EventLoop { client.eventLoop }

    /// Channels held (subscribed or on their way), whatever the connection's state: a room whose
    /// last member left or whose join failed must not stay here.
    public var channelCount: Int { channels.count }

    /// Whether Redis confirmed `channel` on the current connection (messages published to it now
    /// arrive here).
    public func isActive(_ channel: String) -> Bool {
        guard client.isConnected, let entry = channels[channel], case .active = entry.subscription else { return false }
        return true
    }

    public func start() { client.start() }
    public func shutdown() { client.shutdown() }

    /// Adds one reference to `channel`; the future completes once Redis confirmed the subscription.
    /// A failed future still holds the reference: balance it with ``unsubscribe(_:)``.
    public func subscribe(_ channel: String) -> EventLoopFuture<Void> {
        eventLoop.assertInEventLoop()
        if var entry = channels[channel] {
            entry.count += 1
            channels[channel] = entry
            switch entry.subscription {
            case .active: return eventLoop.makeSucceededVoidFuture()
            case .pending(let promise): return promise.futureResult
            }
        }
        let promise = eventLoop.makePromise(of: Void.self)
        channels[channel] = Entry(count: 1, subscription: .pending(promise))
        send(subscribe: channel, promise: promise)
        return promise.futureResult
    }

    private func send(subscribe channel: String, promise: EventLoopPromise<Void>) {
        client.send(RESPCommand("SUBSCRIBE", .string(channel))).whenComplete { result in
            switch result {
            case .success:
                if var entry = self.channels[channel], case .pending = entry.subscription {
                    entry.subscription = .active
                    self.channels[channel] = entry
                }
                promise.succeed()
            case .failure(let error):
                // Stays pending: the next connection's resubscribe completes it for later callers.
                promise.fail(error)
                if var entry = self.channels[channel], case .pending(let p) = entry.subscription, p.futureResult === promise.futureResult {
                    entry.subscription = .pending(self.eventLoop.makePromise())
                    self.channels[channel] = entry
                }
            }
        }
    }

    /// Drops one reference; the last one unsubscribes.
    public func unsubscribe(_ channel: String) {
        eventLoop.assertInEventLoop()
        guard var entry = channels[channel] else { return }
        entry.count -= 1
        if entry.count > 0 {
            channels[channel] = entry
            return
        }
        channels[channel] = nil
        if case .pending(let promise) = entry.subscription {
            promise.fail(RedisError(.unavailable, "unsubscribed before the subscription completed"))
        }
        // If this fails the connection is gone, and a new one will not subscribe this channel.
        _ = client.send(RESPCommand("UNSUBSCRIBE", .string(channel)))
    }

    private func resubscribe(_ connection: RedisConnection) -> EventLoopFuture<Void> {
        let wanted = channels
        guard !wanted.isEmpty else { return eventLoop.makeSucceededVoidFuture() }
        let confirmations = wanted.keys.map { channel in
            connection.send(RESPCommand("SUBSCRIBE", .string(channel))).map { _ in channel }
        }
        return EventLoopFuture.whenAllSucceed(confirmations, on: eventLoop).map { confirmed in
            for channel in confirmed {
                guard var entry = self.channels[channel] else { continue }
                if case .pending(let promise) = entry.subscription { promise.succeed() }
                entry.subscription = .active
                self.channels[channel] = entry
            }
            // After the connection is marked usable, so a replay may send commands.
            self.eventLoop.execute { self.onResubscribed?() }
        }
    }
}
