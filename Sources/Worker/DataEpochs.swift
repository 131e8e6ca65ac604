import EchoCore

/// Redis's data epoch in cluster mode: one per shard, each in a key whose slot that shard owns,
/// read together. A shard that lost its data (a primary restarted empty with no replica to take
/// over) gets a new epoch while the others keep theirs; any change means positions held before
/// cannot be trusted, so every room is recovered conservatively (``RoomRecovery``).
///
/// The epochs travel as one string (`shards:key=value;key=value`, keys sorted) so that the
/// recovery code keeps one value, as with a single Redis. A reading may cover only some shards
/// (a room's round reads its own; a shard that is down cannot be read): readings are compared
/// key by key and merged into what is known.
enum DataEpochs {
    static let prefix = "shards:"

    /// The epoch key for the shard that owns `slot`.
    static func key(forSlot slot: Int) -> String {
        "\(RoomKeys.tagged.dataEpoch):{\(RedisSlot.tag(forSlot: slot))}"
    }

    static func combine(_ epochs: [String: String]) -> String {
        prefix + epochs.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
    }

    /// Whether data was lost between two readings. Shards are compared key by key: a key only one
    /// reading has (the topology changed between them) proves nothing, as an unknown epoch does.
    static func lost(expected: String?, current: String) -> Bool {
        guard let expected, expected.hasPrefix(prefix), current.hasPrefix(prefix) else {
            return RoomRecovery.dataLost(expected: expected, current: current)
        }
        let before = split(expected)
        return split(current).contains { key, value in before[key].map { $0 != value } ?? false }
    }

    /// What is known after `reading`: in a cluster, every shard's latest epoch, including those of
    /// shards this reading did not cover (a room's round reads only its own shard).
    static func merged(_ known: String?, _ reading: String) -> String {
        guard let known, known.hasPrefix(prefix), reading.hasPrefix(prefix) else { return reading }
        return combine(split(known).merging(split(reading)) { _, new in new })
    }

    private static func split(_ combined: String) -> [String: String] {
        var epochs: [String: String] = [:]
        for pair in combined.dropFirst(prefix.count).split(separator: ";") {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            epochs[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return epochs
    }
}
