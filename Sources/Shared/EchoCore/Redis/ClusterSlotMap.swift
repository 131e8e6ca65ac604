/// Which primary serves each of Redis Cluster's 16,384 hash slots, as `CLUSTER SHARDS` tells it
/// (Redis 7.0's RESP2 reply: one map-like array per shard, `slots` as start/end pairs, `nodes`
/// with their role and health).
///
/// Pure: built from a reply, asked by slot. ``RedisCluster`` keeps one and replaces it on every
/// refresh; a `MOVED` reply patches one slot until the next refresh (``moving(_:to:)``).
public struct ClusterSlotMap: Sendable, Equatable {
    public struct Node: Sendable, Equatable, Hashable {
        public var id: String
        public var host: String
        public var port: Int
        public var isPrimary: Bool
        /// `online`, `failed` or `loading` (as Redis says it).
        public var health: String

        public init(id: String, host: String, port: Int, isPrimary: Bool = true, health: String = "online") {
            self.id = id
            self.host = host
            self.port = port
            self.isPrimary = isPrimary
            self.health = health
        }

        /// `host:port` (`[v6]:port`): how the router names its connections.
        public var address: String { Self.address(host: host, port: port) }

        public static func address(host: String, port: Int) -> String {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public struct Shard: Sendable, Equatable {
        /// The slots it owns, as `CLUSTER SHARDS` lists them (ascending, inclusive).
        public var ranges: [ClosedRange<Int>]
        /// The node that takes writes; nil while the shard has none (its primary failed and no
        /// replica took over yet).
        public var primary: Node?
        public var replicas: [Node]
    }

    public private(set) var shards: [Shard]
    /// Slot → index in ``shards`` (-1: nobody serves it). 32 KiB, for a lookup per command.
    private var owners: [Int16]

    /// Builds the map from a `CLUSTER SHARDS` reply. With `tls`, a node's `tls-port` is its port.
    public init(shardsReply reply: RESPValue, tls: Bool = false) throws {
        guard let list = reply.array else { throw Self.bad(reply) }
        var shards: [Shard] = []
        for item in list {
            let fields = try Self.fields(item)
            guard let slots = fields["slots"]?.array, slots.count % 2 == 0, let nodes = fields["nodes"]?.array else { throw Self.bad(item) }
            var ranges: [ClosedRange<Int>] = []
            var index = 0
            while index < slots.count {
                guard let start = slots[index].int, let end = slots[index + 1].int, 0 <= start, start <= end, end < RedisSlot.count else {
                    throw Self.bad(item)
                }
                ranges.append(start...end)
                index += 2
            }
            var primary: Node?
            var replicas: [Node] = []
            for value in nodes {
                let node = try Self.node(value, tls: tls)
                // A failed primary may still be listed beside the replica that replaced it.
                if node.isPrimary, primary == nil || primary?.health == "fail" {
                    if let previous = primary { replicas.append(previous) }
                    primary = node
                } else {
                    replicas.append(node)
                }
            }
            shards.append(Shard(ranges: ranges, primary: primary, replicas: replicas))
        }
        self.init(shards: shards)
    }

    /// Shards are kept in slot order (Redis lists them in any order), so two readings of one
    /// topology compare equal.
    public init(shards: [Shard]) {
        self.shards = shards.sorted { ($0.ranges.first?.lowerBound ?? RedisSlot.count) < ($1.ranges.first?.lowerBound ?? RedisSlot.count) }
        owners = Array(repeating: -1, count: RedisSlot.count)
        for (index, shard) in self.shards.enumerated() {
            for range in shard.ranges {
                for slot in range { owners[slot] = Int16(index) }
            }
        }
    }

    /// The shard that owns `slot`, if any.
    public func shard(forSlot slot: Int) -> Shard? {
        let index = owners[slot]
        return index < 0 ? nil : shards[Int(index)]
    }

    /// The primary that serves `slot`, if any.
    public func primary(forSlot slot: Int) -> Node? {
        shard(forSlot: slot)?.primary
    }

    /// The primary of every shard that serves slots. A failed primary whose replica took over is
    /// listed by Redis as a shard of its own with no slots: it is left out, as are shards with
    /// no primary.
    public var primaries: [Node] { shards.filter { !$0.ranges.isEmpty }.compactMap(\.primary) }

    /// Whether every slot has a primary.
    public var coversAllSlots: Bool {
        owners.allSatisfy { $0 >= 0 && shards[Int($0)].primary != nil }
    }

    /// The map with `slot` served by the primary at `host:port` (what a `MOVED` says), until the
    /// next refresh reads the whole truth. An unknown node becomes a shard of its own.
    public func moving(_ slot: Int, to host: String, port: Int) -> ClusterSlotMap {
        var copy = self
        if let index = shards.firstIndex(where: { $0.primary?.host == host && $0.primary?.port == port }) {
            copy.owners[slot] = Int16(index)
        } else {
            copy.shards.append(Shard(ranges: [slot...slot], primary: Node(id: "", host: host, port: port), replicas: []))
            copy.owners[slot] = Int16(copy.shards.count - 1)
        }
        return copy
    }

    /// Slot ranges as Redis writes them: `0-5460,10923-16383`.
    public static func describe(_ ranges: [ClosedRange<Int>]) -> String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",")
    }

    // MARK: Reading the reply

    /// A RESP2 "map": an array of alternating names and values.
    private static func fields(_ value: RESPValue) throws -> [String: RESPValue] {
        guard let parts = value.array, parts.count % 2 == 0 else { throw bad(value) }
        var fields: [String: RESPValue] = [:]
        var index = 0
        while index < parts.count {
            guard let name = parts[index].string else { throw bad(value) }
            fields[name] = parts[index + 1]
            index += 2
        }
        return fields
    }

    private static func node(_ value: RESPValue, tls: Bool) throws -> Node {
        let fields = try fields(value)
        // `endpoint` is how the cluster wants to be reached (cluster-preferred-endpoint-type);
        // "?" or empty means unknown, and then the IP is what there is.
        let endpoint = fields["endpoint"]?.string
        let ip = fields["ip"]?.string
        let host = [endpoint, ip].compactMap { $0 }.first { !$0.isEmpty && $0 != "?" }
        let port = tls ? fields["tls-port"]?.int : fields["port"]?.int
        guard let id = fields["id"]?.string, let host, let port, let role = fields["role"]?.string else { throw bad(value) }
        return Node(id: id, host: host, port: port, isPrimary: role == "master" || role == "primary", health: fields["health"]?.string ?? "unknown")
    }

    private static func bad(_ value: RESPValue) -> RedisError {
        RedisError(.protocolError, "unexpected CLUSTER SHARDS reply: \(value)")
    }
}
