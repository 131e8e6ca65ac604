@testable import EchoCore
import EchoShared
import NIOCore
import Testing

/// The key names of a running deployment (legacy: changing one loses its history, presence or
/// limits), and the tagged layout's promise: every script call's keys share one cluster slot.
@Suite struct RoomKeysTests {
    let legacy = RoomKeys.legacy
    let tagged = RoomKeys.tagged

    @Test func roomKeysAreToday() {
        #expect(legacy.channel("ab12") == "room:ab12")
        #expect(legacy.stream("ab12") == "stream:ab12")
        #expect(legacy.members("ab12") == "room:ab12:members")
        #expect(legacy.usernames("ab12") == "room:ab12:usernames")
        #expect(legacy.info("ab12") == "room:ab12:info")
        #expect(legacy.primary("ab12") == "room:ab12:primary")
        #expect(legacy.moderation("ab12") == "room:ab12:moderation")
        #expect(legacy.dedupe(room: "ab12", clientID: "c-1") == "cid:ab12:c-1")
        #expect(legacy.reactions(room: "ab12", message: StreamID(milliseconds: 5, sequence: 1)) == "room:ab12:react:5-1")
        #expect(legacy.publishCommand == "PUBLISH")
    }

    @Test func otherKeysAreToday() {
        #expect(legacy.session("s1", room: "ab12") == "session:s1")
        #expect(legacy.rateLimit(ip: "10.0.0.1", room: "ab12") == "rl:10.0.0.1")
        #expect(legacy.activeRooms == "active_rooms")
        #expect(legacy.dataEpoch == "echo:epoch")
        #expect(legacy.connections("10.0.0.1") == "ipconn:10.0.0.1")
        #expect(legacy.handshakes("::1") == "hs:::1")
        #expect(legacy.joins("10.0.0.1") == "jn:10.0.0.1")
    }

    @Test func taggedKeysCarryTheRoom() {
        #expect(tagged.channel("ab12") == "room:{ab12}")
        #expect(tagged.stream("ab12") == "stream:{ab12}")
        #expect(tagged.members("ab12") == "room:{ab12}:members")
        #expect(tagged.usernames("ab12") == "room:{ab12}:usernames")
        #expect(tagged.info("ab12") == "room:{ab12}:info")
        #expect(tagged.primary("ab12") == "room:{ab12}:primary")
        #expect(tagged.moderation("ab12") == "room:{ab12}:moderation")
        #expect(tagged.dedupe(room: "ab12", clientID: "c-1") == "cid:{ab12}:c-1")
        #expect(tagged.reactions(room: "ab12", message: StreamID(milliseconds: 5, sequence: 1)) == "room:{ab12}:react:5-1")
        #expect(tagged.session("s1", room: "ab12") == "session:{ab12}:s1")
        #expect(tagged.rateLimit(ip: "10.0.0.1", room: "ab12") == "rl:{ab12}:10.0.0.1")
        #expect(tagged.connections("10.0.0.1") == "ipconn:{10.0.0.1}")
        #expect(tagged.handshakes("::1") == "hs:{::1}")
        #expect(tagged.joins("10.0.0.1") == "jn:{10.0.0.1}")
        #expect(tagged.activeRooms == "active_rooms")
        #expect(tagged.dataEpoch == "echo:epoch")
        #expect(tagged.publishCommand == "SPUBLISH")
    }

    @Test func onlyAClusterIsTagged() throws {
        #expect(RoomKeys.layout(for: try RedisTopology(url: "redis://127.0.0.1:6379")) == .legacy)
        #expect(RoomKeys.layout(for: try RedisTopology(url: "unix:///run/redis.sock")) == .legacy)
        #expect(RoomKeys.layout(for: try RedisTopology(url: "redis+sentinel://127.0.0.1:26379/main")) == .legacy)
        #expect(RoomKeys.layout(for: try RedisTopology(url: "redis+cluster://127.0.0.1:7000,127.0.0.1:7001/")) == .tagged)
    }

    @Test func channelNamesTheRoomBack() {
        #expect(legacy.room(ofChannel: legacy.channel("ab12")) == "ab12")
        #expect(legacy.room(ofChannel: legacy.channel("")) == "")
        #expect(legacy.room(ofChannel: "stream:ab12") == nil)
        #expect(tagged.room(ofChannel: tagged.channel("ab12")) == "ab12")
        #expect(tagged.room(ofChannel: "room:ab12") == nil)
        #expect(tagged.room(ofChannel: "room:{") == nil)
        #expect(tagged.room(ofChannel: "stream:{ab12}") == nil)
    }

    // MARK: One slot per script call

    static let rooms = ["ab12", "r", "lobby", "Z-9_x", String(repeating: "q", count: 64)]
    static let ips = ["10.0.0.1", "127.0.0.1", "2001:db8:0:1::/64", "::1"]

    /// Every call a store makes with these keys, with and without the optional keys.
    static func calls(_ keys: RoomKeys, room: String, ip: String) -> [(name: String, keys: [String])] {
        let body = ByteBuffer(string: "{}")
        let bucket = AdmissionLimits.Bucket(capacity: 5, ratePerMinute: 60)
        var chat = ChatScript(roomKeys: keys, room: room, body: body, clientID: "c-1", clientIP: ip, streamMaxLength: 10,
                              ratePerMinute: 60, burst: 5, roomTTLSeconds: 60, dedupeSeconds: 300)
        let withDedupe = chat.keys
        chat.clientID = nil
        return [
            ("chat", withDedupe),
            ("chat without clientId", chat.keys),
            ("join", JoinScript(roomKeys: keys, room: room, action: .create, sessionID: "s-1", username: "Ann", session: body,
                                eventPrefix: body, since: nil, historyLimit: 50, presenceTTLMilliseconds: 1000, roomTTLSeconds: 60).keys),
            ("leave", LeaveScript(roomKeys: keys, room: room, sessionID: "s-1", eventPrefix: body, roomTTLSeconds: 60).keys),
            ("refresh", PresenceRefreshScript(roomKeys: keys, room: room, members: [("s-1", "Ann")], presenceTTLMilliseconds: 1000,
                                              roomTTLSeconds: 60).keys),
            ("resync", ResyncScript(roomKeys: keys, room: room, request: ResyncRequest(positions: [nil]), pageSize: 10, historyLimit: 50, roomTTLSeconds: 60).keys),
            ("history", [keys.stream(room)]),
            ("amend", AmendScript(roomKeys: keys, room: room, kind: .delete, target: StreamID(milliseconds: 5, sequence: 1), author: "h", body: body,
                                  clientID: "c-1", windowMilliseconds: nil, streamMaxLength: 10, roomTTLSeconds: 60, dedupeSeconds: 300).keys),
            ("react", ReactScript(roomKeys: keys, room: room, target: StreamID(milliseconds: 5, sequence: 1), sessionID: "s-1", emoji: "👍",
                                  bodyPrefix: body, streamMaxLength: 10, roomTTLSeconds: 60).keys),
            ("kick", ModerationScript(roomKeys: keys, room: room, operation: .kick(sessionID: "s-1"), ownerHash: "h", kicker: nil, timestamp: 1,
                                      roomTTLSeconds: 60).keys),
            ("lock", ModerationScript(roomKeys: keys, room: room, operation: .lock(true), ownerHash: "h", kicker: nil, timestamp: 1,
                                      roomTTLSeconds: 60).keys),
            ("active", ActiveRoomsScript(roomKeys: keys, rooms: [room, "other"], roomTTLSeconds: 60).keys),
            ("admit", AdmitScript(roomKeys: keys, ip: ip, instance: "w", connections: (1, 10, 1000), bucket: (keys.handshakes(ip), bucket)).keys),
            ("admit joins", AdmitScript(roomKeys: keys, ip: ip, instance: "w", connections: nil, bucket: (keys.joins(ip), bucket)).keys),
            ("admit count", AdmitScript(roomKeys: keys, ip: ip, instance: "w", connections: (1, 10, 1000), bucket: nil).keys),
            ("hold", HoldScript(roomKeys: keys, ip: ip, instance: "w", count: 1, ttlMilliseconds: 1000).keys),
        ]
    }

    @Test func everyTaggedCallStaysInOneSlot() {
        for room in Self.rooms {
            for ip in Self.ips {
                for call in Self.calls(tagged, room: room, ip: ip) {
                    #expect(!call.keys.isEmpty && !call.keys.contains(""), "\(call.name): \(call.keys)")
                    #expect(Set(call.keys.map(RedisSlot.of)).count == 1, "\(call.name) crosses slots: \(call.keys)")
                }
                // A room's keys are all in the room's slot, its channel too (SPUBLISH routes by it).
                let roomSlot = RedisSlot.of(tagged.stream(room))
                #expect(RedisSlot.of(tagged.channel(room)) == roomSlot)
                #expect(RedisSlot.of(tagged.rateLimit(ip: ip, room: room)) == roomSlot)
                #expect(RedisSlot.of(tagged.session("s", room: room)) == roomSlot)
                #expect(RedisSlot.of(tagged.moderation(room)) == roomSlot)
            }
        }
    }

    @Test func roomsSpreadOverSlots() {
        let slots = Set((0..<200).map { RedisSlot.of(tagged.stream("room-\($0)")) })
        #expect(slots.count > 190)
    }

    /// The legacy layout's calls name exactly today's keys (a rolling reload meets the same data).
    @Test func legacyCallsNameTodaysKeys() {
        let calls = Dictionary(uniqueKeysWithValues: Self.calls(legacy, room: "r", ip: "1.2.3.4").map { ($0.name, $0.keys) })
        #expect(calls["chat"] == ["stream:r", "room:r", "rl:1.2.3.4", "room:r:info", "cid:r:c-1"])
        #expect(calls["chat without clientId"] == ["stream:r", "room:r", "rl:1.2.3.4", "room:r:info"])
        #expect(calls["join"] == ["room:r:info", "room:r:members", "room:r:usernames", "session:s-1", "stream:r", "room:r", "room:r:primary", "room:r:moderation"])
        #expect(calls["leave"] == ["room:r:members", "room:r:usernames", "session:s-1", "room:r", "room:r:info", "room:r:moderation"])
        #expect(calls["refresh"] == ["room:r:members", "room:r:usernames", "room:r:info", "room:r:primary", "room:r:moderation"])
        #expect(calls["kick"] == ["room:r:moderation", "room:r:members", "room:r:usernames", "room:r"])
        #expect(calls["resync"] == ["stream:r", "room:r:primary"])
        #expect(calls["amend"] == ["stream:r", "room:r", "room:r:info", "room:r:react:5-1", "cid:r:c-1"])
        #expect(calls["react"] == ["stream:r", "room:r", "room:r:info", "room:r:react:5-1"])
        #expect(calls["active"] == ["active_rooms"])
        #expect(calls["admit"] == ["ipconn:1.2.3.4", "hs:1.2.3.4"])
        #expect(calls["admit joins"] == ["jn:1.2.3.4"])
        #expect(calls["hold"] == ["ipconn:1.2.3.4"])
    }
}
