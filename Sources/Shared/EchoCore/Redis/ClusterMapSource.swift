/// Which node the cluster router reads the slot map from (pure: ``RedisCluster`` does the I/O).
///
/// A connected primary first (a replica may lag behind a failover it has not heard of yet), then
/// any other connected node. When none answers (every known primary moved or died at once), the
/// router must not wait for them forever: it dials the configured seeds and the replicas the
/// last map named, and reads the map from the first that connects.
public enum ClusterMapSource: Sendable, Equatable {
    /// Ask this connected node (`host:port`).
    case ask(String)
    /// Nobody answers: open connections to these nodes (`host:port`), in order; the map is read
    /// once one is up. Empty when every candidate is already being dialled.
    case dial([String])

    /// - Parameters:
    ///   - primaries: the primaries of the last map, in its order (empty before the first map).
    ///   - open: every node the router has a connection for (up or not).
    ///   - connected: those of `open` that are up.
    ///   - seeds: the URL's seed nodes.
    ///   - replicas: the replicas of the last map.
    public static func choose(
        primaries: [String], open: [String], connected: Set<String>, seeds: [String], replicas: [String]
    ) -> ClusterMapSource {
        if let primary = primaries.first(where: connected.contains) { return .ask(primary) }
        if let other = open.sorted().first(where: connected.contains) { return .ask(other) }
        var seen = Set(open)
        var dial: [String] = []
        for node in seeds + replicas where seen.insert(node).inserted {
            dial.append(node)
        }
        return .dial(dial)
    }
}
