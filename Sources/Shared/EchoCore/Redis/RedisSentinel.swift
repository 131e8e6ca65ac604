import EchoShared
import Logging
import NIOCore

/// Follows the primary that Redis Sentinels elect under one name (`redis+sentinel://…/<name>`).
///
/// Every connection of a following ``RedisClient`` goes where the Sentinels say: before each
/// attempt they are asked in turn (`SENTINEL get-master-addr-by-name`), the first that answers
/// is believed and moves to the front of the list, as the Sentinel client guidelines ask. The
/// node must then say it is the primary (`ROLE`), so a demoted one never takes writes.
///
/// A subscriber connection to one Sentinel listens for `+switch-master` (moving to the next
/// Sentinel when it is lost). When the primary changes, every following connection that leads
/// elsewhere is dropped and made again at once: the command connection reconnects to the new
/// primary, and the pub/sub connection resubscribes and its rooms read the gap back from the
/// streams, as after any outage.
// @unchecked: all mutable state lives on `eventLoop` (entry points hop there or assert it).
public final class RedisSentinel: @unchecked Sendable {
    public let primaryName: String
    public let eventLoop: EventLoop
    /// Asked in this order; the last one that answered is first.
    private var sentinels: [RedisEndpoint]
    /// The primary's credentials, database and TLS, from the URL.
    private let primaryTemplate: RedisEndpoint
    private let tls: RedisTLS?
    private let timeout: TimeAmount
    private let logger: Logger
    private let watcher: RedisClient
    private var watcherTurn = 0
    private var followers: [RedisClient] = []
    /// The primary followed now: the last the Sentinels named; nil until one did.
    public private(set) var primary: SentinelReply.Address?

    /// `sentinels` as parsed from the URL (their credentials are the primary's); the Sentinels
    /// themselves are asked with `sentinelPassword` (their `requirepass`), or without one.
    public init(
        sentinels: [RedisEndpoint], primaryName: String, sentinelPassword: String? = nil, tls: RedisTLS?,
        eventLoop: EventLoop, timeout: TimeAmount, logger: Logger
    ) {
        precondition(!sentinels.isEmpty, "at least one Sentinel")
        self.primaryName = primaryName
        self.eventLoop = eventLoop
        self.primaryTemplate = sentinels[0]
        self.sentinels = sentinels.map { RedisEndpoint(address: $0.address, password: sentinelPassword, usesTLS: $0.usesTLS) }
        self.tls = tls
        self.timeout = timeout
        self.logger = logger
        var watchLogger = logger
        watchLogger[metadataKey: "sentinelWatch"] = "\(primaryName)"
        watcher = RedisClient(endpoint: self.sentinels[0], tls: tls, eventLoop: eventLoop, timeout: timeout, logger: watchLogger, isSubscriber: true)
        // Weak: the watcher's callbacks must not keep this object alive after shutdown.
        watcher.resolveEndpoint = { [weak self] in
            guard let self else { return eventLoop.makeFailedFuture(RedisError(.unavailable, "shut down")) }
            // Each attempt goes to the next Sentinel: a lost or silent one is left for another.
            let next = self.sentinels[self.watcherTurn % self.sentinels.count]
            self.watcherTurn += 1
            return eventLoop.makeSucceededFuture(next)
        }
        watcher.prepare = { connection in
            connection.send(RESPCommand("SUBSCRIBE", "+switch-master")).map { _ in }
        }
        watcher.onPush = { [weak self] value in
            guard let self, let parts = value.array, parts.count == 3, let payload = parts[2].string else { return }
            guard let event = SentinelReply.switchMaster(payload), event.name == self.primaryName else { return }
            // This Sentinel knows of the switch; others may learn of it only later (from its
            // hellos): it answers the followers' questions first.
            if let watched = self.watcher.resolvedEndpoint, let index = self.sentinels.firstIndex(of: watched) {
                self.sentinels.insert(self.sentinels.remove(at: index), at: 0)
            }
            self.follow(event.new, because: "+switch-master from \(event.old)")
        }
        watcher.onAvailabilityChange = { [weak self] available in
            // A switch announced while nobody listened would go unnoticed: ask once more.
            guard let self, available else { return }
            self.resolvePrimary().whenFailure { error in
                self.logger.debug("redis sentinel: no primary named after the watch resumed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Makes `client` connect to the primary the Sentinels name, and move when they elect another.
    /// Call before the client starts.
    public func follow(_ client: RedisClient) {
        precondition(client.eventLoop === eventLoop, "a follower shares the Sentinel watch's event loop")
        client.resolveEndpoint = { [weak self] in
            guard let self else { return client.eventLoop.makeFailedFuture(RedisError(.unavailable, "shut down")) }
            return self.resolvePrimary()
        }
        client.requiresPrimary = true
        followers.append(client)
    }

    public func start() { watcher.start() }
    public func shutdown() { watcher.shutdown() }

    /// Whether the `+switch-master` watch is connected to a Sentinel.
    public var isWatching: Bool { watcher.isConnected }

    /// Asks the Sentinels in turn for the primary; the first that answers decides.
    func resolvePrimary() -> EventLoopFuture<RedisEndpoint> {
        guard eventLoop.inEventLoop else {
            return eventLoop.flatSubmit { self.resolvePrimary() }
        }
        return ask(ArraySlice(sentinels), unknownTo: [], failures: []).map { sentinel, address in
            if let index = self.sentinels.firstIndex(of: sentinel), index > 0 {
                self.sentinels.insert(self.sentinels.remove(at: index), at: 0)
            }
            self.follow(address, because: "answer from the Sentinel at \(sentinel.addressText)")
            return self.endpoint(of: address)
        }
    }

    private func ask(
        _ remaining: ArraySlice<RedisEndpoint>, unknownTo: [String], failures: [String]
    ) -> EventLoopFuture<(RedisEndpoint, SentinelReply.Address)> {
        guard let sentinel = remaining.first else {
            let why = SentinelReply.noPrimary(named: primaryName, unknownTo: unknownTo, failures: failures)
            return eventLoop.makeFailedFuture(RedisError(.unavailable, why))
        }
        let name = primaryName
        let asked = RedisClient.open(sentinel, tls: tls, on: eventLoop, timeout: timeout, isSubscriber: false, logger: logger) { connection in
            let question = RESPCommand("SENTINEL", "get-master-addr-by-name", .string(name))
            guard let password = sentinel.password else { return connection.send(question) }
            // Pipelined: a refused password fails the AUTH and with it this Sentinel's answer.
            let login = connection.send(RESPCommand("AUTH", .string(password)))
            let answer = connection.send(question)
            return login.flatMap { _ in answer }
        }
        let answer = asked.flatMapThrowing { connection, reply in
            connection.close()
            return try SentinelReply.primaryAddress(reply)
        }
        // The next Sentinel is asked outside the error handler: its own failure is not this one's.
        return answer.map { Result<SentinelReply.Address?, any Error>.success($0) }.recover { .failure($0) }.flatMap { outcome in
            switch outcome {
            case .success(let address?):
                return self.eventLoop.makeSucceededFuture((sentinel, address))
            case .success(nil):
                return self.ask(remaining.dropFirst(), unknownTo: unknownTo + [sentinel.addressText], failures: failures)
            case .failure(let error):
                let failure = "\(sentinel.addressText): \(RedisClient.reason(for: error, endpoint: sentinel))"
                return self.ask(remaining.dropFirst(), unknownTo: unknownTo, failures: failures + [failure])
            }
        }
    }

    /// Takes `address` as the primary; when it is a new one, every follower that leads elsewhere
    /// is dropped and connects again.
    private func follow(_ address: SentinelReply.Address, because why: String) {
        eventLoop.assertInEventLoop()
        guard address != primary else { return }
        let previous = primary
        primary = address
        guard let previous else {
            logger.info("redis primary found", metadata: ["primaryName": "\(primaryName)", "primary": "\(address)", "via": "\(why)"])
            return
        }
        logger.warning("redis primary switched", metadata: [
            "primaryName": "\(primaryName)", "from": "\(previous)", "to": "\(address)", "via": "\(why)",
        ])
        let target = endpoint(of: address).address
        for client in followers where client.resolvedEndpoint?.address != target {
            client.reconnect(because: "the Sentinels elected \(address) in place of \(previous)")
        }
    }

    private func endpoint(of address: SentinelReply.Address) -> RedisEndpoint {
        var endpoint = primaryTemplate
        endpoint.address = .tcp(host: address.host, port: address.port)
        return endpoint
    }
}
