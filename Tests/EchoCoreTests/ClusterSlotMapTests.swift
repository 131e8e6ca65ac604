@testable import EchoCore
import NIOCore
import Testing

@Suite struct ClusterSlotMapTests {
    /// `CLUSTER SHARDS` as redis-server 7.0.15 sent it (RESP2) for a cluster made by
    /// `redis-cli --cluster create` with 3 primaries and `--cluster-replicas 1`.
    static let created =
        "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n9e599ccc1101f3c7d711d3b77b65d7299d0a5d29\r\n$4\r\nport\r\n:37087\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:210\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n40c40c5c41f4376b684aaa99a0ac9413114bf93c\r\n$4\r\nport\r\n:37831\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:210\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n37531e33429b9ce0b2749c56bc4910a6a80f1eef\r\n$4\r\nport\r\n:49411\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:210\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n8d91a2b482584468b195b4752831eee1c3e5a432\r\n$4\r\nport\r\n:38869\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:210\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n860f3e01cf4ea78eb8ecb879e78ecc9a2049a047\r\n$4\r\nport\r\n:44697\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:210\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n67b4965ddb955cdf85f539619a2d4c6970f4edff\r\n$4\r\nport\r\n:34353\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:210\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"

    /// The same cluster after slot 0 was moved to the second primary (`CLUSTER SETSLOT 0 NODE`).
    static let slotZeroMoved =
        "*3\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:0\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n9e599ccc1101f3c7d711d3b77b65d7299d0a5d29\r\n$4\r\nport\r\n:37087\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:224\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n40c40c5c41f4376b684aaa99a0ac9413114bf93c\r\n$4\r\nport\r\n:37831\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:224\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:1\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n37531e33429b9ce0b2749c56bc4910a6a80f1eef\r\n$4\r\nport\r\n:49411\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:224\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n8d91a2b482584468b195b4752831eee1c3e5a432\r\n$4\r\nport\r\n:38869\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:224\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n860f3e01cf4ea78eb8ecb879e78ecc9a2049a047\r\n$4\r\nport\r\n:44697\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:224\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n67b4965ddb955cdf85f539619a2d4c6970f4edff\r\n$4\r\nport\r\n:34353\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:224\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"

    /// The same cluster after the second primary (port 37087) was killed with SIGKILL and its
    /// replica (37831) took over: the dead primary is listed as a shard of its own, with no slots.
    static let afterFailover =
        "*4\r\n*4\r\n$5\r\nslots\r\n*4\r\n:0\r\n:0\r\n:5461\r\n:10922\r\n$5\r\nnodes\r\n*1\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n40c40c5c41f4376b684aaa99a0ac9413114bf93c\r\n$4\r\nport\r\n:37831\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:1442\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n*1\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n9e599ccc1101f3c7d711d3b77b65d7299d0a5d29\r\n$4\r\nport\r\n:37087\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:1442\r\n$6\r\nhealth\r\n$4\r\nfail\r\n*4\r\n$5\r\nslots\r\n*2\r\n:1\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n37531e33429b9ce0b2749c56bc4910a6a80f1eef\r\n$4\r\nport\r\n:49411\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:1622\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n8d91a2b482584468b195b4752831eee1c3e5a432\r\n$4\r\nport\r\n:38869\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:1622\r\n$6\r\nhealth\r\n$6\r\nonline\r\n*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n860f3e01cf4ea78eb8ecb879e78ecc9a2049a047\r\n$4\r\nport\r\n:44697\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:1622\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
        "*14\r\n$2\r\nid\r\n$40\r\n67b4965ddb955cdf85f539619a2d4c6970f4edff\r\n$4\r\nport\r\n:34353\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:1622\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"

    static func parse(_ text: String) throws -> RESPValue {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: text))
        return try #require(try reader.next())
    }

    @Test func readsShardsPrimariesAndReplicas() throws {
        let map = try ClusterSlotMap(shardsReply: Self.parse(Self.created))
        #expect(map.shards.count == 3)
        #expect(map.primaries.map(\.port).sorted() == [37087, 44697, 49411])
        #expect(map.shards.allSatisfy { $0.replicas.count == 1 && $0.replicas[0].health == "online" && !$0.replicas[0].isPrimary })
        #expect(map.coversAllSlots)
        #expect(map.primary(forSlot: 0)?.address == "127.0.0.1:49411")
        #expect(map.primary(forSlot: 5460)?.port == 49411)
        #expect(map.primary(forSlot: 5461)?.port == 37087)
        #expect(map.primary(forSlot: 10922)?.port == 37087)
        #expect(map.primary(forSlot: 10923)?.id == "860f3e01cf4ea78eb8ecb879e78ecc9a2049a047")
        #expect(map.primary(forSlot: 16383)?.port == 44697)
        // `GET a` on the first primary answered `MOVED 15495 127.0.0.1:44697`.
        #expect(map.primary(forSlot: RedisSlot.of("a"))?.port == 44697)
        #expect(map.shards.map { ClusterSlotMap.describe($0.ranges) } == ["0-5460", "5461-10922", "10923-16383"])
    }

    @Test func readsSeveralRangesPerShard() throws {
        let map = try ClusterSlotMap(shardsReply: Self.parse(Self.slotZeroMoved))
        let second = try #require(map.shards.first { $0.primary?.port == 37087 })
        #expect(second.ranges == [0...0, 5461...10922])
        #expect(ClusterSlotMap.describe(second.ranges) == "0,5461-10922")
        #expect(map.primary(forSlot: 0)?.port == 37087)
        #expect(map.primary(forSlot: 1)?.port == 49411)
        #expect(map.coversAllSlots)
    }

    @Test func aFailedPrimaryIsNotServing() throws {
        let map = try ClusterSlotMap(shardsReply: Self.parse(Self.afterFailover))
        #expect(map.primaries.map(\.port).sorted() == [37831, 44697, 49411])
        #expect(map.primary(forSlot: 0)?.port == 37831)
        #expect(map.primary(forSlot: 6000)?.port == 37831)
        #expect(map.coversAllSlots)
        let dead = try #require(map.shards.first { $0.primary?.port == 37087 })
        #expect(dead.ranges.isEmpty && dead.primary?.health == "fail")
    }

    @Test func movedPatchesOneSlot() throws {
        let map = try ClusterSlotMap(shardsReply: Self.parse(Self.created))
        let moved = map.moving(0, to: "127.0.0.1", port: 37087)
        #expect(moved.primary(forSlot: 0)?.port == 37087)
        #expect(moved.primary(forSlot: 1)?.port == 49411)
        let elsewhere = map.moving(7, to: "10.0.0.9", port: 7000)
        #expect(elsewhere.primary(forSlot: 7)?.address == "10.0.0.9:7000")
        #expect(elsewhere.shards.count == 4)
    }

    @Test func aShardWithoutPrimaryLeavesItsSlotsUnserved() throws {
        let node = ClusterSlotMap.Node(id: "r", host: "127.0.0.1", port: 7001, isPrimary: false, health: "fail")
        let map = ClusterSlotMap(shards: [
            .init(ranges: [0...8191], primary: ClusterSlotMap.Node(id: "p", host: "127.0.0.1", port: 7000), replicas: []),
            .init(ranges: [8192...16383], primary: nil, replicas: [node]),
        ])
        #expect(map.primary(forSlot: 8192) == nil)
        #expect(!map.coversAllSlots)
        #expect(map.primaries.count == 1)
    }

    @Test func refusesOtherShapes() throws {
        #expect(throws: RedisError.self) { try ClusterSlotMap(shardsReply: .simpleString("OK")) }
        #expect(throws: RedisError.self) { try ClusterSlotMap(shardsReply: .array([.array([.bulkString(ByteBuffer(string: "slots"))])])) }
    }
}
