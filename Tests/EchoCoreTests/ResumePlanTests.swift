@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct ResumePlanTests {
    let a = StreamID("10-0")!, b = StreamID("11-0")!, c = StreamID("12-0")!

    @Test func dropsLiveCopiesOfReplayedMessagesAndKeepsTheRestInOrder() {
        let buffered: [(id: StreamID?, frame: String)] = [(a, "a"), (nil, "join"), (b, "b"), (c, "c")]
        let live = ResumePlan.liveAfterHistory(buffered, lastSeen: b)
        #expect(live.map(\.frame) == ["join", "c"])
    }

    @Test func keepsEverythingWhenNothingWasSeen() {
        let buffered: [(id: StreamID?, frame: String)] = [(a, "a"), (b, "b")]
        #expect(ResumePlan.liveAfterHistory(buffered, lastSeen: nil).map(\.frame) == ["a", "b"])
    }

    @Test func lastSeenIsTheNewestReplayedOrTheResumePoint() {
        #expect(ResumePlan.lastSeen(history: [a, b], since: a) == b)
        #expect(ResumePlan.lastSeen(history: [], since: c) == c)
        #expect(ResumePlan.lastSeen(history: [], since: nil) == nil)
    }
}
