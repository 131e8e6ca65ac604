@testable import EchoCore
import NIOCore
import Testing

/// Each typed script's reply decoding, on the replies its Lua returns and on replies it must
/// refuse (short, wrong type, an error): a refusal is a thrown ``RedisError``, never a crash.
@Suite struct RoomScriptsTests {
    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
    static func entry(_ id: String, _ body: String = "{}") -> RESPValue { .array([bulk(id), .array([bulk("d"), bulk(body)])]) }
    /// An argument as text (`RESPArgument` is not `Equatable`).
    static func text(_ argument: RESPArgument?) -> String? {
        switch argument {
        case .string(let s): s
        case .integer(let i): String(i)
        case .bytes(let b): String(buffer: b)
        case nil: nil
        }
    }
    static func id(_ ms: UInt64, _ seq: UInt64 = 0) -> StreamID { StreamID(milliseconds: ms, sequence: seq) }

    static func expectRefused<Call: RedisScriptCall>(_ call: Call, _ replies: [RESPValue]) {
        for reply in replies {
            #expect(throws: RedisError.self, "\(reply)") { try call.decode(reply) }
        }
    }

    static let garbage: [RESPValue] = [.null, .error("ERR boom"), .integer(1), .simpleString("OK"), .array([]), bulk("ok")]

    let chat = ChatScript(roomKeys: .legacy, room: "r", body: ByteBuffer(string: "{}"), clientID: "c1", clientIP: "1.2.3.4", streamMaxLength: 10, ratePerMinute: 0, burst: 0, roomTTLSeconds: 60, dedupeSeconds: 300)

    @Test func chatKeysAndArguments() {
        #expect(chat.keys == ["stream:r", "room:r", "rl:1.2.3.4", "room:r:info", "cid:r:c1"])
        var anonymous = chat
        anonymous.clientID = nil
        #expect(anonymous.keys.count == 4)
        #expect(chat.arguments.count == 10)
        #expect(Self.text(chat.arguments[8]) == "PUBLISH")
        #expect(Self.text(chat.arguments[9]) == "")  // no author
        var sharded = chat
        sharded.roomKeys = .tagged
        sharded.author = "ab12"
        #expect(Self.text(sharded.arguments[8]) == "SPUBLISH")
        #expect(Self.text(sharded.arguments[9]) == "ab12")
    }

    @Test func chatReplies() throws {
        #expect(try chat.decode(.array([Self.bulk("ok"), Self.bulk("5-1")])) == .stored(Self.id(5, 1)))
        #expect(try chat.decode(.array([Self.bulk("dup"), Self.bulk("5-1")])) == .duplicate(Self.id(5, 1), nil))
        let dup = try chat.decode(.array([Self.bulk("dup"), Self.bulk("5-1"), Self.entry("5-1", #"{"a":1}"#)]))
        guard case .duplicate(let id, let stored?) = dup else {
            Issue.record("no stored copy: \(dup)")
            return
        }
        #expect(id == Self.id(5, 1))
        #expect(stored.id == Self.id(5, 1))
        #expect(String(buffer: stored.frame) == #"{"type":"chat","id":"5-1","messageId":"5-1","a":1}"#)
        #expect(try chat.decode(.array([Self.bulk("limited"), .integer(1500)])) == .rateLimited(retryAfterMilliseconds: 1500))
        Self.expectRefused(chat, Self.garbage + [
            .array([Self.bulk("ok")]), .array([Self.bulk("ok"), Self.bulk("nope")]), .array([Self.bulk("dup")]),
            .array([Self.bulk("limited")]), .array([Self.bulk("limited"), .null]), .array([Self.bulk("what"), Self.bulk("1-1")]),
        ])
    }

    let join = JoinScript(roomKeys: .legacy, room: "r", action: .join, sessionID: "s", username: "Ann", session: ByteBuffer(string: "{}"), eventPrefix: ByteBuffer(string: "{"), since: nil, historyLimit: 50, presenceTTLMilliseconds: 1000, roomTTLSeconds: 60)

    @Test func joinKeysAndArguments() {
        #expect(join.keys == ["room:r:info", "room:r:members", "room:r:usernames", "session:s", "stream:r", "room:r", "room:r:primary", "room:r:moderation"])
        #expect(join.arguments.count == 14)
        #expect(Self.text(join.arguments[9]) == "PUBLISH")
        #expect(join.arguments[10...].map(Self.text) == ["", "", "", "1"])
        var gated = join
        gated.authorHash = "aa"
        gated.newOwnerHash = "bb"
        gated.presentedOwnerHash = "cc"
        gated.verifier = "V"
        #expect(gated.arguments[10...].map(Self.text) == ["aa", "bb", "cc", "v:V"])
    }

    @Test func joinReplies() throws {
        #expect(try join.decode(.array([Self.bulk("notfound")])) == .roomNotFound)
        #expect(try join.decode(.array([Self.bulk("refused"), Self.bulk("locked")])) == .refused(.locked))
        #expect(try join.decode(.array([Self.bulk("refused"), Self.bulk("badkey")])) == .refused(.wrongKey))
        #expect(try join.decode(.array([Self.bulk("refused"), Self.bulk("keyrequired")])) == .refused(.keyRequired))
        #expect(try join.decode(.array([Self.bulk("refused"), Self.bulk("plain")])) == .refused(.notEncrypted))
        // No resume: newest first from Redis, oldest first out.
        let fresh = try join.decode(.array([Self.bulk("ok"), .integer(2), .integer(-1), .array([Self.entry("9-0"), Self.entry("8-0")]), .integer(1), .integer(0)]))
        let expected = try [Self.entry("8-0"), Self.entry("9-0")].map { try #require(RoomEvent(streamEntry: $0).flatMap(StoredMessage.init)) }
        #expect(fresh == .joined(usersCount: 2, messages: expected, recovered: nil, moderation: JoinModeration(created: true, locked: false)))
        // Recovered: oldest first already.
        let resumed = try join.decode(.array([Self.bulk("ok"), .integer(1), .integer(1), .array([Self.entry("8-0"), Self.entry("9-0")]), .integer(0), .integer(1)]))
        guard case .joined(_, let events, let recovered, _) = resumed else { throw RedisError(.protocolError, "") }
        #expect(events.map(\.id) == [Self.id(8), Self.id(9)])
        #expect(recovered == true)
        #expect(resumed == .joined(usersCount: 1, messages: events, recovered: true, moderation: JoinModeration(created: false, locked: true)))
        let lost = try join.decode(.array([Self.bulk("ok"), .integer(1), .integer(0), .array([Self.entry("9-0"), Self.entry("8-0")]), .integer(0), .integer(0)]))
        guard case .joined(_, let lostEvents, false, _) = lost else { throw RedisError(.protocolError, "\(lost)") }
        #expect(lostEvents.map(\.id) == [Self.id(8), Self.id(9)])
        Self.expectRefused(join, Self.garbage + [
            .array([Self.bulk("ok"), .integer(2), .integer(-1)]),
            .array([Self.bulk("ok"), .null, .integer(-1), .array([])]),
            .array([Self.bulk("ok"), .integer(2), .integer(7), .array([])]),
            .array([Self.bulk("ok"), .integer(2), .integer(-1), .null]),
            .array([Self.bulk("notfound"), .integer(1)]),
            .array([Self.bulk("locked"), .integer(1)]),
            // Without the moderation fields (a reply of the script before them).
            .array([Self.bulk("ok"), .integer(2), .integer(-1), .array([])]),
            .array([Self.bulk("ok"), .integer(2), .integer(-1), .array([]), .null, .integer(0)]),
        ])
    }

    @Test func leaveReplies() throws {
        let leave = LeaveScript(roomKeys: .legacy, room: "r", sessionID: "s", eventPrefix: ByteBuffer(string: "{"), roomTTLSeconds: 60)
        #expect(leave.keys == ["room:r:members", "room:r:usernames", "session:s", "room:r", "room:r:info", "room:r:moderation"])
        #expect(Self.text(leave.arguments.last) == "PUBLISH")
        #expect(try leave.decode(.integer(3)) == 3)
        Self.expectRefused(leave, [.null, .error("ERR"), Self.bulk("3"), .array([.integer(3)])])
    }

    @Test func refreshArgumentsAndReplies() throws {
        let refresh = PresenceRefreshScript(roomKeys: .legacy, room: "r", members: [("s1", "Ann"), ("s2", "Bo")], presenceTTLMilliseconds: 30_000, roomTTLSeconds: 60)
        #expect(refresh.keys == ["room:r:members", "room:r:usernames", "room:r:info", "room:r:primary", "room:r:moderation"])
        #expect(refresh.arguments.map(Self.text) == ["30000", "60", "1", "s1", "Ann", "s2", "Bo"])
        var encrypted = refresh
        encrypted.verifier = "V"
        #expect(encrypted.arguments.map(Self.text)[2] == "v:V", "a Redis that lost the room gets it back encrypted")
        try refresh.decode(.integer(1))
        Self.expectRefused(refresh, [.null, .error("ERR"), .integer(0), Self.bulk("1")])
    }

    @Test func activeRoomsArgumentsAndReplies() throws {
        let active = ActiveRoomsScript(roomKeys: .legacy, rooms: ["a", "b"], roomTTLSeconds: 60)
        #expect(active.keys == ["active_rooms"])
        #expect(active.arguments.map(Self.text) == ["60", "a", "b"])
        #expect(try active.decode(.integer(2)) == 2)
        Self.expectRefused(active, [.null, .error("ERR"), .integer(1), Self.bulk("2")])
    }

    @Test func resyncReplies() throws {
        let request = ResyncRequest(positions: [nil, Self.id(5)])
        let resync = ResyncScript(roomKeys: .legacy, room: "r", request: request, pageSize: 2, historyLimit: 50, roomTTLSeconds: 60)
        #expect(resync.keys == ["stream:r", "room:r:primary"])
        #expect(resync.arguments.map(Self.text) == ["2", "50", "60", "0", "", "5-0"])
        // A reset the hub decided: the script is told to trust no position (and so reads the history).
        let reset = ResyncScript(roomKeys: .legacy, room: "r", request: ResyncRequest(positions: [Self.id(5)], trustsNone: true), pageSize: 2, historyLimit: 50, roomTTLSeconds: 60)
        #expect(reset.arguments.map(Self.text) == ["2", "50", "60", "1", "5-0"])
        let reply = try resync.decode(.array([.array([.integer(0), .integer(1)]), .array([Self.entry("6-0"), Self.entry("7-0")]), .array([Self.entry("7-0"), Self.entry("6-0")])]))
        #expect(reply.covered == [false, true])
        #expect(reply.entries.map(\.id) == [Self.id(6), Self.id(7)])
        #expect(reply.history.map(\.id) == [Self.id(6), Self.id(7)])
        #expect(!reply.isLastPage)
        let last = try resync.decode(.array([.array([.integer(1), .integer(1)]), .array([Self.entry("6-0")]), .array([])]))
        #expect(last.isLastPage && last.history.isEmpty)
        Self.expectRefused(resync, Self.garbage + [
            .array([.array([.integer(1)]), .array([]), .array([])]),  // one flag for two positions
            .array([.array([.integer(1), .integer(2)]), .array([]), .array([])]),
            .array([.array([.integer(1), .integer(1)]), .array([])]),
            .array([.array([.integer(1), .integer(1)]), .null, .array([])]),
        ])
    }

    @Test func admitReplies() throws {
        let admit = AdmitScript(roomKeys: .legacy, ip: "1.2.3.4", instance: "w1", connections: (1, 10, 60_000), bucket: ("hs:1.2.3.4", .init(capacity: 20, ratePerMinute: 1200)))
        #expect(admit.keys == ["ipconn:1.2.3.4", "hs:1.2.3.4"])
        #expect(Self.text(admit.arguments.last) == "1")
        let joins = AdmitScript(roomKeys: .legacy, ip: "1.2.3.4", instance: "w1", connections: nil, bucket: ("jn:1.2.3.4", .init(capacity: 5, ratePerMinute: 5)))
        #expect(joins.keys == ["jn:1.2.3.4"])
        #expect(Self.text(joins.arguments.last) == "0")
        #expect(AdmitScript(roomKeys: .legacy, ip: "1.2.3.4", instance: "w1", connections: nil, bucket: nil).keys == [])
        #expect(try admit.decode(.array([Self.bulk("ok")])) == .admitted)
        #expect(try admit.decode(.array([Self.bulk("connections"), .integer(4)])) == .tooManyConnections(others: 4))
        #expect(try admit.decode(.array([Self.bulk("limited"), .integer(50)])) == .rateLimited(retryAfterMilliseconds: 50))
        Self.expectRefused(admit, Self.garbage + [
            .array([Self.bulk("connections")]), .array([Self.bulk("limited")]), .array([Self.bulk("limited"), .null]),
            .array([Self.bulk("ok"), .integer(1)]),
        ])
    }

    @Test func holdReplies() throws {
        let hold = HoldScript(roomKeys: .legacy, ip: "1.2.3.4", instance: "w1", count: 0, ttlMilliseconds: 60_000)
        #expect(hold.keys == ["ipconn:1.2.3.4"])
        try hold.decode(.integer(0))
        try hold.decode(.integer(1))
        Self.expectRefused(hold, [.null, .error("ERR"), .integer(2), Self.bulk("1")])
    }

    /// The reaction is the author's when the member has an author hash, else the session's; the
    /// session goes JSON-quoted, as the script writes it into the body after the prefix.
    @Test func reactKeysAndArguments() {
        var react = ReactScript(roomKeys: .legacy, room: "r", target: Self.id(5, 1), sessionID: "s1", authorHash: nil, emoji: "👍",
                                bodyPrefix: ByteBuffer(string: "{"), streamMaxLength: 10, roomTTLSeconds: 60)
        #expect(react.keys == ["stream:r", "room:r", "room:r:info", "room:r:react:5-1"])
        #expect(react.arguments.map(Self.text) == ["5-1", "10", "60", "PUBLISH", "r", "R", "{", "s:s1", #""s1""#, "👍", "20"])
        react.authorHash = "ab12"
        react.roomKeys = .tagged
        #expect(react.keys == ["stream:{r}", "room:{r}", "room:{r}:info", "room:{r}:react:5-1"])
        #expect(react.arguments.map(Self.text) == ["5-1", "10", "60", "SPUBLISH", "r", "R", "{", "a:ab12", #""s1""#, "👍", "20"])
    }

    @Test func reactReplies() throws {
        let react = ReactScript(roomKeys: .legacy, room: "r", target: Self.id(5, 1), sessionID: "s1", authorHash: nil, emoji: "👍",
                                bodyPrefix: ByteBuffer(string: "{"), streamMaxLength: 10, roomTTLSeconds: 60)
        #expect(try react.decode(.array([Self.bulk("ok"), Self.bulk("9-0"), Self.bulk("true")])) == .stored(Self.id(9), on: true))
        #expect(try react.decode(.array([Self.bulk("ok"), Self.bulk("9-0"), Self.bulk("false")])) == .stored(Self.id(9), on: false))
        #expect(try react.decode(.array([Self.bulk("missing")])) == .notFound)
        #expect(try react.decode(.array([Self.bulk("full")])) == .tooMany)
        Self.expectRefused(react, Self.garbage + [
            .array([Self.bulk("ok"), Self.bulk("9-0")]), .array([Self.bulk("ok"), Self.bulk("x"), Self.bulk("true")]),
            .array([Self.bulk("ok"), Self.bulk("9-0"), Self.bulk("1")]), .array([Self.bulk("missing"), Self.bulk("9-0")]),
        ])
    }

    @Test func everyScriptIsLoadedOnConnect() {
        let names = Set((RoomStore.scripts + AdmissionStore.scripts).map(\.name))
        #expect(names == ["chat", "amend", "react", "join", "leave", "refresh", "resync", "active", "admit", "hold", "moderate"])
    }

    @Test func moderationKeysArgumentsAndReplies() throws {
        let kick = ModerationScript(
            roomKeys: .legacy, room: "r", operation: .kick(sessionID: "s9"), ownerHash: "ab", kicker: "cd", timestamp: 5, roomTTLSeconds: 60)
        #expect(kick.keys == ["room:r:moderation", "room:r:members", "room:r:usernames", "room:r"])
        #expect(kick.arguments.map(Self.text) == [
            "kick", "ab", "PUBLISH", "60", "s9", "cd", #"{"sender":"System","message":"kick","sessionId":"s9","timestamp":5,"username":"#, "K",
        ])
        var lock = kick
        lock.operation = .lock(true)
        lock.kicker = nil
        lock.roomKeys = .tagged
        #expect(lock.keys == ["room:{r}:moderation", "room:{r}:members", "room:{r}:usernames", "room:{r}"])
        #expect(lock.arguments.map(Self.text) == ["lock", "ab", "SPUBLISH", "60", "", "", #"{"type":"lock","locked":true}"#, "L"])
        lock.operation = .lock(false)
        #expect(Self.text(lock.arguments[0]) == "unlock")
        #expect(Self.text(lock.arguments[6]) == #"{"type":"lock","locked":false}"#)
        #expect(try kick.decode(.array([Self.bulk("ok")])) == .done)
        #expect(try kick.decode(.array([Self.bulk("notOwner")])) == .notOwner)
        #expect(try kick.decode(.array([Self.bulk("notMember")])) == .notMember)
        #expect(try kick.decode(.array([Self.bulk("yourself")])) == .yourself)
        Self.expectRefused(kick, Self.garbage + [.array([Self.bulk("what")]), .array([Self.bulk("ok"), .integer(1)])])
    }
}
