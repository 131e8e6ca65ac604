import NIOCore

/// Redis as the stores use it, whatever stands behind `REDIS_URL` (``RedisTopology``): one node or
/// a Sentinel-elected primary (``RedisClient``), or a Redis Cluster, which sends each command to
/// the primary that owns its key's slot.
///
/// Every entry point may be called from any thread; futures complete on ``eventLoop``.
public protocol RedisCommands: AnyObject, Sendable {
    var eventLoop: EventLoop { get }
    /// Sends `command`. A cluster sends it to the primary that owns `key`'s slot (nil: any primary).
    func send(_ command: RESPCommand, routedBy key: String?) -> EventLoopFuture<RESPValue>
    /// Runs a typed script call where its keys live (a call's keys share one slot in a cluster).
    func run<Call: RedisScriptCall>(_ call: Call) -> EventLoopFuture<Call.Response>
    /// Whether commands can flow now.
    var isConnected: Bool { get }
    /// How many times a connection was lost and made again, in all.
    var reconnects: Int { get }
    /// Why Redis is unavailable, while it is (for `/health`).
    var lastError: String? { get }
    func start()
    func shutdown()
}

extension RedisClient: RedisCommands {
    /// One node holds every key: the routing key does not matter.
    public func send(_ command: RESPCommand, routedBy key: String?) -> EventLoopFuture<RESPValue> {
        send(command)
    }
}
