import EchoCore
import EchoShared
import Logging
import NIOCore

/// The Redis side of a worker, built from `REDIS_URL` (``RedisTopology``): the command connection
/// the stores use and the pub/sub the hub uses. One node: a ``RedisClient`` and a
/// ``RedisSubscriber``. A cluster: a ``RedisCluster`` router and a ``ShardedSubscriber`` that
/// follows its slot map.
struct RedisSetup: Sendable {
    let topology: RedisTopology
    let commands: any RedisCommands
    let subscriber: any RedisPubSub
    /// The router, in cluster mode (for `/health` and `/metrics`).
    let cluster: RedisCluster?
    /// The watch on the Sentinels, in Sentinel mode: it points both connections at the primary.
    let sentinel: RedisSentinel?

    init(
        topology: RedisTopology, tls: RedisTLS?, sentinelPassword: String? = nil, eventLoop: EventLoop, timeout: TimeAmount, logger: Logger
    ) throws {
        self.topology = topology
        let scripts = RoomStore.scripts + AdmissionStore.scripts
        let isSentinel = if case .sentinel = topology { true } else { false }
        if sentinelPassword != nil, !isSentinel {
            // Whoever set it expects Sentinels: say that it is not used.
            logger.warning("ECHO_REDIS_SENTINEL_PASSWORD applies to redis+sentinel:// only; it is not used", metadata: ["redis": "\(topology)"])
        }
        switch topology {
        case .single(let endpoint):
            let client = RedisClient(endpoint: endpoint, tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger)
            client.scripts = scripts
            commands = client
            subscriber = RedisSubscriber(endpoint: endpoint, tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger)
            cluster = nil
            sentinel = nil
        case .cluster(let seeds):
            let router = RedisCluster(seeds: seeds, tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger)
            router.scripts = scripts
            commands = router
            subscriber = ShardedSubscriber(cluster: router, logger: logger)
            cluster = router
            sentinel = nil
        case .sentinel(let sentinels, let name):
            // The first Sentinel's entry carries only the credentials and TLS: both connections
            // go where the Sentinels say.
            let client = RedisClient(endpoint: sentinels[0], tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger)
            client.scripts = scripts
            let pubsub = RedisSubscriber(endpoint: sentinels[0], tls: tls, eventLoop: eventLoop, timeout: timeout, logger: logger)
            let watch = RedisSentinel(
                sentinels: sentinels, primaryName: name, sentinelPassword: sentinelPassword, tls: tls,
                eventLoop: eventLoop, timeout: timeout, logger: logger)
            watch.follow(client)
            watch.follow(pubsub.client)
            commands = client
            subscriber = pubsub
            cluster = nil
            sentinel = watch
        }
    }

    func start() {
        sentinel?.start()
        commands.start()
        subscriber.start()
    }

    func shutdown() {
        commands.shutdown()
        subscriber.shutdown()
        sentinel?.shutdown()
    }
}

extension RedisSetup {
    /// What `/health` says about Redis beyond connected or not: the mode, and in cluster mode
    /// every shard (its slots, primary, replicas, whether both of this worker's connections to it
    /// are up, how many room channels it carries) and how long ago the slot map was read.
    var healthJSON: [String: Any] {
        if sentinel != nil {
            var json: [String: Any] = ["mode": "sentinel", "url": topology.description]
            json["primary"] = (commands as? RedisClient)?.resolvedEndpoint?.hostAndPort
            return json
        }
        guard let cluster else { return ["mode": "single", "url": topology.description] }
        let channels = (subscriber as? ShardedSubscriber)?.channelsByNode ?? [:]
        let subscribed = Set(channels.keys)
        var json: [String: Any] = [
            "mode": "cluster", "url": topology.description,
            "shards": cluster.shardStatus.map { shard -> [String: Any] in
                var o: [String: Any] = ["slots": shard.slots, "replicas": shard.replicas, "connected": shard.connected]
                if let primary = shard.primary {
                    o["primary"] = primary
                    o["subscriberConnected"] = subscribed.contains(primary) && (subscriber as? ShardedSubscriber)?.isConnected(primary) == true
                    o["channels"] = channels[primary] ?? 0
                }
                return o
            },
        ]
        if let last = cluster.lastRefresh {
            json["lastRefreshMsAgo"] = Int((NIODeadline.now() - last).nanoseconds / 1_000_000)
        }
        return json
    }

    /// Prometheus lines for the cluster's shards (none in single mode).
    var metricsText: String {
        guard let cluster else { return "" }
        let shards = cluster.shardStatus
        var text = "# TYPE echo_redis_cluster_shards gauge\necho_redis_cluster_shards \(shards.count)\n"
        text += "# TYPE echo_redis_shard_connected gauge\n"
        for shard in shards {
            text += "echo_redis_shard_connected{slots=\"\(shard.slots)\",primary=\"\(shard.primary ?? "none")\"} \(shard.connected ? 1 : 0)\n"
        }
        if let last = cluster.lastRefresh {
            let seconds = Double((NIODeadline.now() - last).nanoseconds) / 1e9
            text += "# TYPE echo_redis_cluster_map_age_seconds gauge\necho_redis_cluster_map_age_seconds \(seconds)\n"
        }
        return text
    }
}
