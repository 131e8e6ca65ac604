import EchoCore
import Testing

@testable import Worker

@Suite struct DataEpochsTests {
    @Test func eachShardsKeyLandsInItsSlot() {
        for slot in [0, 5461, 10923, 16383] {
            #expect(RedisSlot.of(DataEpochs.key(forSlot: slot)) == slot)
        }
    }

    @Test func anyShardsChangeIsALoss() {
        let before = DataEpochs.combine(["a": "1", "b": "2", "c": "3"])
        #expect(!DataEpochs.lost(expected: before, current: DataEpochs.combine(["c": "3", "b": "2", "a": "1"])))
        #expect(DataEpochs.lost(expected: before, current: DataEpochs.combine(["a": "1", "b": "9", "c": "3"])))
    }

    @Test func aShardOnlyOneReadingHasProvesNothing() {
        // Slots moved between the readings: the shards' first slots, and so their keys, changed.
        let before = DataEpochs.combine(["a": "1", "b": "2"])
        #expect(!DataEpochs.lost(expected: before, current: DataEpochs.combine(["a": "1", "d": "7"])))
        #expect(!DataEpochs.lost(expected: nil, current: before))
    }

    @Test func singleNodeEpochsCompareAsBefore() {
        #expect(DataEpochs.lost(expected: "x", current: "y"))
        #expect(!DataEpochs.lost(expected: "x", current: "x"))
    }

    @Test func aPartialReadingIsMergedIntoWhatIsKnown() {
        let known = DataEpochs.combine(["a": "1", "b": "2", "c": "3"])
        let merged = DataEpochs.merged(known, DataEpochs.combine(["b": "2"]))
        #expect(merged == known)
        // A later full reading still sees shard c's change.
        #expect(DataEpochs.lost(expected: merged, current: DataEpochs.combine(["a": "1", "b": "2", "c": "4"])))
        #expect(DataEpochs.merged(nil, "x") == "x")
        #expect(DataEpochs.merged(known, DataEpochs.combine(["c": "9"])) == DataEpochs.combine(["a": "1", "b": "2", "c": "9"]))
    }
}
