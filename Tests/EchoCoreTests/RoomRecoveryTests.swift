@testable import EchoCore
import Testing

@Suite struct RoomRecoveryTests {
    let a = StreamID(milliseconds: 10, sequence: 0)
    let b = StreamID(milliseconds: 10, sequence: 1)
    let c = StreamID(milliseconds: 11, sequence: 0)

    @Test func positionsAreDistinctAndOldestFirstWithNothingSeenFirst() {
        let request = ResyncRequest(positions: [c, a, nil, c, b, nil])
        #expect(request.positions == [nil, a, b, c])
    }

    @Test func eachMemberIsReplayedOrToldByItsOwnPosition() {
        let request = ResyncRequest(positions: [a, c])
        // a was trimmed (or Redis lost it), c is still in the stream.
        let covered = [false, true]
        #expect(RoomRecovery.action(for: a, in: request, covered: covered) == .reset)
        #expect(RoomRecovery.action(for: c, in: request, covered: covered) == .replay)
        // A member that arrived after the round was sent waits for the next one.
        #expect(RoomRecovery.action(for: b, in: request, covered: covered) == .skip)
        #expect(RoomRecovery.action(for: nil, in: request, covered: covered) == .skip)
    }

    @Test func whenRedisLostItsDataNoPositionIsTrusted() {
        let request = ResyncRequest(positions: [nil, c])
        #expect(RoomRecovery.action(for: nil, in: request, covered: [true, true]) == .replay)
        #expect(RoomRecovery.action(for: nil, in: request, covered: [true, true], dataLost: true) == .reset)
        #expect(RoomRecovery.action(for: c, in: request, covered: [true, true], dataLost: true) == .reset)
        #expect(RoomRecovery.action(for: b, in: request, covered: [true, true], dataLost: true) == .skip)
        #expect(RoomRecovery.dataLost(expected: "e1", current: "e2"))
        #expect(!RoomRecovery.dataLost(expected: "e1", current: "e1"))
        // Never read before: a first start, not a loss.
        #expect(!RoomRecovery.dataLost(expected: nil, current: "e1"))
    }

    @Test func heldMessagesKeepArrivalOrder() {
        var held = HeldMessages<String>(maxCount: 10, maxBytes: 100)
        held.hold(id: a, frame: "a", size: 1)
        held.hold(id: nil, frame: "join", size: 4)
        held.hold(id: b, frame: "b", size: 1)
        #expect(held.take().map(\.frame) == ["a", "join", "b"])
        #expect(held.entries.isEmpty && held.bytes == 0 && !held.dropped)
    }

    @Test func heldMessagesOverTheBoundAreDroppedAndSaySo() {
        var held = HeldMessages<String>(maxCount: 2, maxBytes: 100)
        held.hold(id: a, frame: "a", size: 1)
        held.hold(id: b, frame: "b", size: 1)
        held.hold(id: c, frame: "c", size: 1)
        // The dropped ones are in the stream: the flag makes the hub read them back.
        #expect(held.dropped)
        #expect(held.entries.map(\.frame) == ["c"])

        var big = HeldMessages<String>(maxCount: 100, maxBytes: 10)
        big.hold(id: a, frame: "a", size: 8)
        big.hold(id: b, frame: "b", size: 8)
        #expect(big.dropped && big.bytes == 8)
    }

    @Test func aRetriedChatIsSentToItsSenderOnlyWhenOlderThanWhatTheConnectionWasGiven() {
        // Resumed and recovered: the connection has everything after since.
        #expect(ResumePlan.duplicateFloor(history: [b, c], recovered: true) == nil)
        #expect(!ResumePlan.confirmsDuplicate(a, floor: nil))
        // A fresh join (or a lost resume) got the history from b on.
        let floor = ResumePlan.duplicateFloor(history: [b, c], recovered: nil)
        #expect(floor == b)
        #expect(ResumePlan.confirmsDuplicate(a, floor: floor))
        #expect(!ResumePlan.confirmsDuplicate(b, floor: floor))
        #expect(!ResumePlan.confirmsDuplicate(c, floor: floor))
        #expect(ResumePlan.duplicateFloor(history: [b], recovered: false) == b)
        #expect(ResumePlan.duplicateFloor(history: [], recovered: nil) == nil)
    }
}
