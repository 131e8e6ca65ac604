@testable import EchoCore
import Testing

/// The key names of a running deployment: changing one loses its history, presence or limits.
@Suite struct RoomKeysTests {
    @Test func roomKeysAreToday() {
        #expect(RoomKeys.channel("ab12") == "room:ab12")
        #expect(RoomKeys.stream("ab12") == "stream:ab12")
        #expect(RoomKeys.members("ab12") == "room:ab12:members")
        #expect(RoomKeys.usernames("ab12") == "room:ab12:usernames")
        #expect(RoomKeys.info("ab12") == "room:ab12:info")
        #expect(RoomKeys.dedupe(room: "ab12", clientID: "c-1") == "cid:ab12:c-1")
    }

    @Test func otherKeysAreToday() {
        #expect(RoomKeys.session("s1") == "session:s1")
        #expect(RoomKeys.rateLimit("10.0.0.1") == "rl:10.0.0.1")
        #expect(RoomKeys.activeRooms == "active_rooms")
        #expect(RoomKeys.dataEpoch == "echo:epoch")
        #expect(RoomKeys.connections("10.0.0.1") == "ipconn:10.0.0.1")
        #expect(RoomKeys.handshakes("::1") == "hs:::1")
        #expect(RoomKeys.joins("10.0.0.1") == "jn:10.0.0.1")
    }

    @Test func channelNamesTheRoomBack() {
        #expect(RoomKeys.room(ofChannel: RoomKeys.channel("ab12")) == "ab12")
        #expect(RoomKeys.room(ofChannel: RoomKeys.channel("")) == "")
        #expect(RoomKeys.room(ofChannel: "stream:ab12") == nil)
    }
}
