@testable import EchoCore
import Testing

@Suite struct RedisSlotTests {
    @Test func matchesRedisCRC16() {
        // The check value from Redis's crc16.c.
        #expect(RedisSlot.crc16(Array("123456789".utf8)) == 0x31C3)
    }

    /// Values from `CLUSTER KEYSLOT` on redis-server 7.0.
    @Test func matchesClusterKeyslot() {
        #expect(RedisSlot.of("foo") == 12182)
        #expect(RedisSlot.of("bar") == 5061)
        #expect(RedisSlot.of("{user1000}.following") == RedisSlot.of("user1000"))
        #expect(RedisSlot.of("stream:{r1}") == RedisSlot.of("room:{r1}:members"))
        // An empty tag is no tag: the whole key is hashed.
        #expect(RedisSlot.of("foo{}{bar}") == 8363)
        #expect(RedisSlot.of("foo{{bar}}zap") == 4015)
        #expect(RedisSlot.of("stream:{r1}") == 2121)
    }
}

@Suite struct RedisSlotTagTests {
    @Test func aTagForEverySlotLandsThere() {
        for slot in [0, 1, 2121, 8192, 16383] {
            let tag = RedisSlot.tag(forSlot: slot)
            #expect(RedisSlot.of("{\(tag)}") == slot)
            #expect(RedisSlot.of("anything:{\(tag)}:else") == slot)
        }
    }
}
