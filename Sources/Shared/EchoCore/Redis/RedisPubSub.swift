import NIOCore

/// Pub/sub as ChatHub uses it, reference-counted per channel, whatever stands behind it: one
/// connection to one Redis (``RedisSubscriber``) or one connection per Redis Cluster primary with
/// sharded pub/sub (``ShardedSubscriber``).
///
/// The recovery contract: ``onLost`` says messages may be missed from now on (on some channels),
/// ``onResubscribed`` says some channels are confirmed again; in between, a channel that is not
/// ``isActive(_:)`` must be caught up from its stream once it is.
public protocol RedisPubSub: AnyObject, Sendable {
    var eventLoop: EventLoop { get }
    /// A message on `channel`, with its payload.
    var onMessage: ((_ channel: ByteBuffer, _ payload: ByteBuffer) -> Void)? { get set }
    /// End of a batch of messages (flush what they wrote).
    var onBatchEnd: (() -> Void)? { get set }
    /// Some channels were confirmed again after ``onLost``: time to fill their gaps.
    var onResubscribed: (() -> Void)? { get set }
    /// Messages to some channels may not be delivered from now until they are active again.
    var onLost: (() -> Void)? { get set }
    /// Channels held (subscribed or on their way).
    var channelCount: Int { get }
    /// Whether Redis confirmed `channel` on a connection that is up now.
    func isActive(_ channel: String) -> Bool
    /// Adds one reference to `channel`; completes once Redis confirmed it. A failed future still
    /// holds the reference: balance it with ``unsubscribe(_:)``.
    func subscribe(_ channel: String) -> EventLoopFuture<Void>
    /// Drops one reference; the last one unsubscribes.
    func unsubscribe(_ channel: String)
    /// Whether every pub/sub connection is up.
    var isConnected: Bool { get }
    /// How many times a pub/sub connection was lost and made again, in all.
    var reconnects: Int { get }
    /// Why a pub/sub connection is down, while one is.
    var lastError: String? { get }
    func start()
    func shutdown()
}

extension RedisSubscriber: RedisPubSub {
    public var isConnected: Bool { client.isConnected }
    public var reconnects: Int { client.reconnects }
    public var lastError: String? { client.lastError }
}
