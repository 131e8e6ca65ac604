@testable import EchoCore
import EchoShared
import NIOCore
import NIOWebSocket
import Testing

/// Moderation without I/O: the owner key a `create` is offered, the `session` fields, `kick` and
/// `lock` requests and their refusals, a locked room's refusal, and the kick event's close.
extension ChatConnectionStateMachineTests {
    static let ownerKey = OwnerKey(bytes: Array(1...32))
    static let moderationAuthors = AuthorHasher(secret: Array(repeating: 9, count: 32))
    static let moderationConfiguration = Machine.Configuration(
        limits: InputLimits(), clientLimits: clientLimits, maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 0, outboundLimitBytes: 1 << 20,
        joinTimeoutSeconds: 30, rateLimited: true, authors: moderationAuthors, makeOwnerKey: { ownerKey })
    static let authorKeyText = String(repeating: "A", count: 42) + "E"

    /// Joins through the real request; returns the join action and the machine, not completed yet.
    func moderationJoin(_ payload: String, _ machine: inout Machine) -> (request: JoinRequest, gate: JoinGate, generation: Int)? {
        let actions = machine.frameReceived(.text, payload: ByteBuffer(string: #"{"type":"join","payload":{"roomId":"\#(room)","username":"ann"\#(payload)}}"#), now: Self.t0)
        guard case .checkJoinAdmission(let join, let leaves)? = actions.first,
              case .join(let request, _, let generation, let gate)? = machine.joinAdmitted(
                  join, leaves: leaves, refusal: nil, draining: false, sessionID: "s1", now: Self.t0).last
        else {
            Issue.record("no join in \(actions)")
            return nil
        }
        return (request, gate, generation)
    }

    func sessionJSON(_ actions: [Action]) -> String? {
        guard case .write(let frame, _)? = actions.first else { return nil }
        let text = String(decoding: frame.readableBytesView, as: UTF8.self)
        return text.firstIndex(of: "{").map { String(text[$0...]) }  // after the frame's header
    }

    @Test func aCreateAskingForModerationIsOfferedAKeyAndGetsItOnlyIfItMadeTheRoom() throws {
        let ownerHash = try #require(Self.moderationAuthors.hash(owner: Self.ownerKey))
        for created in [true, false] {
            var machine = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
            let join = try #require(moderationJoin(#","action":"create","features":["moderation"],"authorKey":"\#(Self.authorKeyText)""#, &machine))
            #expect(join.gate.newOwnerHash == ownerHash)
            #expect(join.gate.authorHash == machine.connection.flatMap { c -> String? in
                if case .joining(let pending) = c.room { return pending.membership.authorHash }
                return nil
            })
            #expect(join.gate.presentedOwnerHash == nil)
            let session = sessionJSON(machine.joinCompleted(
                generation: join.generation, .joined(messages: [], recovered: nil, moderation: JoinModeration(created: created, locked: false))))
            let expected = #""features":["moderation"],"locked":false"# + (created ? #","ownerKey":"\#(Self.ownerKey.text)"}"# : "}")
            #expect(session?.hasSuffix(expected) == true, "\(session ?? "")")
        }
    }

    @Test func onlyACreateWithTheFeatureIsOfferedAKeyAndOnlyItsMembersSeeTheState() throws {
        for (payload, offered) in [
            (#","action":"join","features":["moderation"]"#, false), (#","action":"create","features":["typing"]"#, false),
            (#","action":"create""#, false), (#","action":"rejoin","features":["moderation"]"#, false),
        ] {
            var machine = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
            let join = try #require(moderationJoin(payload, &machine))
            #expect((join.gate.newOwnerHash != nil) == offered, "\(payload)")
            let session = sessionJSON(machine.joinCompleted(
                generation: join.generation, .joined(messages: [], recovered: nil, moderation: JoinModeration(created: true, locked: true))))
            let granted = payload.contains("moderation")
            #expect(session?.contains(#""locked":true"#) == granted, "\(payload)")
            #expect(session?.contains("ownerKey") == false, "\(payload)")
        }
    }

    @Test func aJoinPresentingTheOwnerKeyCarriesItsHash() throws {
        var machine = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
        let join = try #require(moderationJoin(#","action":"rejoin","ownerKey":"\#(Self.ownerKey.text)""#, &machine))
        #expect(join.request.ownerKey == Self.ownerKey)
        #expect(join.gate.presentedOwnerHash == Self.moderationAuthors.hash(owner: Self.ownerKey))
        // An owner hash is never an author hash of the same bytes.
        #expect(Self.moderationAuthors.hash(owner: Self.ownerKey) != Self.moderationAuthors.hash(Self.ownerKey))
    }

    @Test func aLockedRoomRefusesTheJoin() throws {
        var machine = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
        let join = try #require(moderationJoin(#","action":"join""#, &machine))
        let actions = machine.joinCompleted(generation: join.generation, .refused(.locked))
        #expect(actions == [.removeMember(room: room)] + Self.error(ProtocolError(.roomLocked, "Room \(room) is locked by its owner.")))
        #expect(machine.connection?.room == .idle)
    }

    /// A machine joined with moderation and an author key.
    func moderator() throws -> Machine {
        var machine = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
        let join = try #require(moderationJoin(#","action":"create","features":["moderation"],"authorKey":"\#(Self.authorKeyText)""#, &machine))
        _ = machine.joinCompleted(generation: join.generation, .joined(messages: [], recovered: nil, moderation: JoinModeration(created: true)))
        return machine
    }

    @Test func kickAndLockBecomeTheModerationScriptWithTheOwnerHash() throws {
        var machine = try moderator()
        let ownerHash = try #require(Self.moderationAuthors.hash(owner: Self.ownerKey))
        let author = machine.joinedMembership?.authorHash
        #expect(author != nil)
        #expect(request(#"{"type":"kick","payload":{"sessionId":"s2","ownerKey":"\#(Self.ownerKey.text)"}}"#, &machine)
            == [.moderate(room: room, .kick(sessionID: "s2"), ownerHash: ownerHash, kicker: author)])
        #expect(request(#"{"type":"lock","payload":{"locked":true,"ownerKey":"\#(Self.ownerKey.text)"}}"#, &machine)
            == [.moderate(room: room, .lock(true), ownerHash: ownerHash, kicker: author)])
        #expect(request(#"{"type":"lock","payload":{"locked":false,"ownerKey":"\#(Self.ownerKey.text)"}}"#, &machine)
            == [.moderate(room: room, .lock(false), ownerHash: ownerHash, kicker: author)])
        // Kicking oneself is refused before Redis is asked.
        #expect(request(#"{"type":"kick","payload":{"sessionId":"s1","ownerKey":"\#(Self.ownerKey.text)"}}"#, &machine)
            == Self.error(ProtocolError(.invalidPayload, "You cannot kick yourself.")))
    }

    @Test func moderationAnswers() throws {
        var machine = try moderator()
        #expect(machine.moderationCompleted(.done(.done)) == [])
        #expect(machine.moderationCompleted(.done(.notMember)) == [])
        #expect(machine.moderationCompleted(.done(.notOwner))
            == Self.error(ProtocolError(.notOwner, "Only the room's owner can do that (ownerKey does not match).")))
        #expect(machine.moderationCompleted(.done(.yourself)) == Self.error(ProtocolError(.invalidPayload, "You cannot kick yourself.")))
        let failed = machine.moderationCompleted(.failed(Fault()))
        #expect(failed.dropFirst() == Self.error(ProtocolError(.unavailable, "Chat storage did not confirm that; try again."))[...])
    }

    @Test(arguments: [
        #"{"type":"kick","payload":{"ownerKey":"OWNER"}}"#, #"{"type":"kick","payload":{"sessionId":"a b","ownerKey":"OWNER"}}"#,
        #"{"type":"kick","payload":{"sessionId":"s2"}}"#, #"{"type":"kick","payload":{"sessionId":"s2","ownerKey":"short"}}"#,
        #"{"type":"lock","payload":{"ownerKey":"OWNER"}}"#, #"{"type":"lock","payload":{"locked":true}}"#,
        #"{"type":"join","payload":{"roomId":"room1234","username":"ann","ownerKey":"nope"}}"#,
    ])
    func badModerationPayloadsAreInvalid(_ json: String) throws {
        var machine = try moderator()
        let actions = request(json.replacingOccurrences(of: "OWNER", with: Self.ownerKey.text), &machine)
        #expect(actions.first == .count(.error(.invalidPayload)), "\(json)")
    }

    @Test func kickAndLockBeforeAJoinAreNotJoinedAndCountAgainstTheBucket() throws {
        var machine = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
        let kick = #"{"type":"kick","payload":{"sessionId":"s2","ownerKey":"\#(Self.ownerKey.text)"}}"#
        let lock = #"{"type":"lock","payload":{"locked":true,"ownerKey":"\#(Self.ownerKey.text)"}}"#
        for _ in 0..<10 {
            #expect(request(kick, &machine) == Self.error(ProtocolError(.notJoined, "Join a room before moderating it.")))
            #expect(request(lock, &machine) == Self.error(ProtocolError(.notJoined, "Join a room before moderating it.")))
        }
        #expect(request(kick, &machine).first == .count(.error(.rateLimited)))
    }

    @Test func aKickEventClosesTheKickedSessionAndItsAuthorsOtherTabsWith4001() throws {
        let author = try #require(try moderator().joinedMembership?.authorHash)
        for (target, kickAuthor, closes) in [
            ("s1", nil, true), ("s2", author, true), ("s2", nil, false), ("s2", String(repeating: "0", count: 64), false),
        ] {
            var machine = try moderator()
            let actions = machine.kicked(target: ByteBuffer(string: target), author: kickAuthor.map { ByteBuffer(string: $0) })
            #expect(actions.contains(.sendClose(.kicked, reason: "Removed from the room by its owner.")) == closes, "\(target)")
            #expect(machine.isClosing == closes)
        }
        #expect(CloseCode.kicked.rawValue == 4001)
        // Not joined: nothing to close.
        var idle = Machine(configuration: Self.moderationConfiguration, now: Self.t0)
        #expect(idle.kicked(target: ByteBuffer(string: "s1"), author: nil) == [])
    }

    @Test func ownerKeyTextRoundTrips() {
        for seed in 0..<50 {
            let key = OwnerKey(bytes: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ seed &* 11) })
            #expect(key.text.utf8.count == OwnerKey.textLength)
            #expect(OwnerKey(text: key.text) == key)
        }
    }
}
