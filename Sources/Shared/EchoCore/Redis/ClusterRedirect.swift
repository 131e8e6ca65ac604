/// What a Redis Cluster node's error reply asks the client to do, read from its words (pure).
///
/// - `MOVED <slot> <host>:<port>`: the slot lives elsewhere now; update the map and resend there.
/// - `ASK <slot> <host>:<port>`: the slot is being migrated and this key already left; resend
///   there once, preceded by `ASKING`, and leave the map alone.
/// - `TRYAGAIN` (a multi-key command during a migration) and `CLUSTERDOWN` (the cluster is not
///   serving the slot now, e.g. mid-failover): wait a little and resend.
public enum ClusterRedirect: Equatable, Sendable {
    case moved(slot: Int, host: String, port: Int)
    case ask(slot: Int, host: String, port: Int)
    case retryLater

    /// The redirect an error asks for, or nil for any other error. An empty host (a node that does
    /// not know its own address) means the node that answered: `sender`.
    public init?(_ error: Error, sender: String) {
        guard let error = error as? RedisError, error.kind == .reply else { return nil }
        let message = error.message
        if message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN") {
            self = .retryLater
            return
        }
        let words = message.split(separator: " ")
        guard words.count == 3, words[0] == "MOVED" || words[0] == "ASK", let slot = Int(words[1]), 0 <= slot, slot < RedisSlot.count,
              let colon = words[2].lastIndex(of: ":"), let port = Int(words[2][words[2].index(after: colon)...]) else {
            return nil
        }
        var host = String(words[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = sender }
        self = words[0] == "MOVED" ? .moved(slot: slot, host: host, port: port) : .ask(slot: slot, host: host, port: port)
    }

    /// Back-off before the `attempt`-th resend after `TRYAGAIN`/`CLUSTERDOWN` (0-based): 25 ms
    /// doubling; ``RedisCluster`` gives up after ``retryLimit`` tries (about 0.8 s in all).
    public static func retryDelayMilliseconds(attempt: Int) -> Int64 {
        25 << Int64(min(attempt, 10))
    }

    public static let retryLimit = 5
    /// Redirects followed for one command before it fails (a map flapping between two nodes).
    public static let redirectLimit = 5
}
