@testable import EchoCore
import EchoShared
import NIOCore
import Testing

/// Kept kinds that need a feature (edit, delete): never sent to a member that was not granted it,
/// on any path (history, a join's buffered live messages, live fan-out, the replay after a fault).
extension ChatConnectionStateMachineTests {
    static func featured(_ n: UInt64) -> StoredMessage {
        StoredMessage(id: id(n), frame: ByteBuffer(string: #"{"type":"edit","id":"\#(n)-0"}"#), requires: .edit)
    }

    /// A machine whose join (granted `features`) is in flight, with `buffered` live messages.
    func joiningMachine(features: ChatFeatures?, buffered: [Machine.LiveMessage] = []) -> (Machine, generation: Int) {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: nil, features: features)
        guard case .join(_, _, let generation, _)? = machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s1", now: Self.t0).last
        else {
            Issue.record("no join")
            return (machine, 0)
        }
        for live in buffered { _ = machine.liveMessage(live.frame, id: live.id, requires: live.requires) }
        return (machine, generation)
    }

    @Test func aJoinsHistoryHasFeaturedEntriesOnlyForMembersGrantedThem() {
        let stored = [Self.stored(1), Self.featured(2), Self.stored(3)]
        for (features, expected) in [(nil, [Self.stored(1), Self.stored(3)]), (ChatFeatures.typing, [Self.stored(1), Self.stored(3)]), (.edit, stored)] {
            var (machine, generation) = joiningMachine(features: features)
            let actions = machine.joinCompleted(generation: generation, .joined(messages: stored, recovered: nil))
            #expect(actions.dropFirst().first == Self.history(expected, recovered: nil))
        }
    }

    @Test func bufferedLiveMessagesOfAFeaturedKindGoOnlyToMembersGrantedIt() {
        let buffered = [
            Machine.LiveMessage(id: Self.id(4), frame: ByteBuffer(string: "chat")),
            Machine.LiveMessage(id: Self.id(5), frame: ByteBuffer(string: "edit"), requires: .edit),
        ]
        for (features, expected) in [(nil, Array(buffered.prefix(1))), (ChatFeatures.edit, buffered)] {
            var (machine, generation) = joiningMachine(features: features, buffered: buffered)
            let actions = machine.joinCompleted(generation: generation, .joined(messages: [Self.stored(1)], recovered: nil))
            #expect(actions.contains(.goLive(room: room, buffered: expected)))
        }
    }

    @Test func aLiveFeaturedMessageIsWrittenOnlyToMembersGrantedItButMovesEveryonesPosition() {
        var (old, oldGeneration) = joiningMachine(features: nil)
        _ = old.joinCompleted(generation: oldGeneration, .joined(messages: [Self.stored(1)], recovered: nil))
        var (new, newGeneration) = joiningMachine(features: .edit)
        _ = new.joinCompleted(generation: newGeneration, .joined(messages: [Self.stored(1)], recovered: nil))
        #expect(old.liveMessage(ByteBuffer(string: "edit"), id: Self.id(2), requires: .edit) == .none)
        #expect(old.lastID == Self.id(2))
        #expect(new.liveMessage(ByteBuffer(string: "edit"), id: Self.id(2), requires: .edit) == .write)
        #expect(old.liveMessage(ByteBuffer(string: "chat"), id: Self.id(3)) == .write)
    }

    @Test func aResyncAndAHistoryReadLeaveFeaturedEntriesOutForAnOldMember() {
        let stored = [Self.stored(1), Self.featured(2)]
        var (machine, generation) = joiningMachine(features: nil)
        _ = machine.joinCompleted(generation: generation, .joined(messages: [], recovered: nil))
        #expect(machine.resync(history: stored) == WebSocketWire.text(ServerFrames.history([Self.stored(1).frame], recovered: false)))
        #expect(machine.lastID == Self.id(1))
        _ = request(#"{"type":"history"}"#, &machine)
        #expect(machine.historyCompleted(.read(stored)).first == Self.history([Self.stored(1)], recovered: nil))
    }
}

/// The edit and delete requests' rules, without I/O.
extension ChatConnectionStateMachineTests {
    static let authors = AuthorHasher(secret: [UInt8](repeating: 3, count: 32))
    static let authorKey = AuthorKey(bytes: [UInt8](repeating: 9, count: 32))

    func authoredMachine(key: AuthorKey? = Self.authorKey) -> Machine {
        let configuration = Machine.Configuration(
            limits: InputLimits(), clientLimits: Self.clientLimits, maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 0, outboundLimitBytes: 1 << 20,
            joinTimeoutSeconds: 30, rateLimited: true, authors: Self.authors)
        var machine = Machine(configuration: configuration, now: Self.t0)
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: nil, features: .edit, authorKey: key)
        if case .join(_, _, let generation, _)? = machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s1", now: Self.t0).last {
            _ = machine.joinCompleted(generation: generation, .joined(messages: [], recovered: nil))
        }
        return machine
    }

    @Test func anEditOrDeleteByAnAuthoredMemberGoesToTheScriptWithItsHash() throws {
        var machine = authoredMachine()
        let hash = try #require(Self.authors.hash(Self.authorKey))
        #expect(request(#"{"type":"edit","payload":{"messageId":"5-1","text":"new","clientId":"c9"}}"#, &machine) == [
            .amendEvent(room: room, kind: .edit, target: StreamID(milliseconds: 5, sequence: 1),
                        body: ServerFrames.editBody(messageID: StreamID(milliseconds: 5, sequence: 1), text: "new", editedAt: Self.t0.wallMilliseconds),
                        author: hash, clientID: "c9"),
        ])
        #expect(request(#"{"type":"delete","payload":{"messageId":"5-1"}}"#, &machine) == [
            .amendEvent(room: room, kind: .delete, target: StreamID(milliseconds: 5, sequence: 1),
                        body: ServerFrames.deleteBody(messageID: StreamID(milliseconds: 5, sequence: 1)), author: hash, clientID: nil),
        ])
    }

    @Test func editAndDeleteAreRefusedBeforeAJoinWithoutAKeyAndWithBadPayloads() {
        var fresh = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(request(#"{"type":"edit","payload":{"messageId":"5-1","text":"x"}}"#, &fresh).first == .count(.error(.notJoined)))
        #expect(request(#"{"type":"delete","payload":{"messageId":"5-1"}}"#, &fresh).first == .count(.error(.notJoined)))
        var keyless = authoredMachine(key: nil)
        #expect(request(#"{"type":"edit","payload":{"messageId":"5-1","text":"x"}}"#, &keyless).first == .count(.error(.notAuthor)))
        var machine = authoredMachine()
        #expect(request(#"{"type":"edit","payload":{"messageId":"nope","text":"x"}}"#, &machine).first == .count(.error(.invalidPayload)))
        #expect(request(#"{"type":"edit","payload":{"messageId":"5-1","text":"  "}}"#, &machine).first == .count(.error(.emptyMessage)))
        #expect(request(#"{"type":"edit","payload":{"messageId":"5-1"}}"#, &machine).first == .count(.error(.emptyMessage)))
        let long = String(repeating: "a", count: 2001)
        #expect(request(#"{"type":"edit","payload":{"messageId":"5-1","text":"\#(long)"}}"#, &machine).first == .count(.error(.messageTooLong)))
        #expect(request(#"{"type":"delete","payload":{}}"#, &machine).first == .count(.error(.invalidPayload)))
        #expect(request(#"{"type":"delete","payload":{"messageId":"5-1","clientId":"bad id"}}"#, &machine).first == .count(.error(.invalidClientID)))
    }

    @Test func theScriptsRefusalsBecomeTheirErrors() {
        var machine = authoredMachine()
        #expect(machine.amendCompleted(clientID: "c1", .done(.stored(Self.id(9)))) == [])
        #expect(machine.amendCompleted(clientID: "c1", .done(.duplicate(Self.id(9)))) == [])
        #expect(machine.amendCompleted(clientID: "c1", .done(.notFound)).first == .count(.error(.messageNotFound)))
        #expect(machine.amendCompleted(clientID: "c1", .done(.notAuthor)).first == .count(.error(.notAuthor)))
        #expect(machine.amendCompleted(clientID: nil, .done(.windowClosed)).first == .count(.error(.editWindowClosed)))
        #expect(machine.amendCompleted(clientID: nil, .failed(Fault())).last.map { if case .write = $0 { true } else { false } } == true)
    }

    @Test func editsCountAgainstTheRequestBucket() {
        var machine = authoredMachine()  // the join took one token
        for _ in 0..<19 { _ = request(#"{"type":"delete","payload":{"messageId":"5-1"}}"#, &machine) }
        #expect(request(#"{"type":"delete","payload":{"messageId":"5-1"}}"#, &machine).first == .count(.error(.rateLimited)))
    }
}

/// The react request's rules, and a message with reactions on every history path, without I/O.
extension ChatConnectionStateMachineTests {
    func joinedMachine(features: ChatFeatures?) -> Machine {
        var (machine, generation) = joiningMachine(features: features)
        _ = machine.joinCompleted(generation: generation, .joined(messages: [], recovered: nil))
        return machine
    }

    @Test func aReactionGoesToTheScriptWithTheMembersSessionAndName() {
        var machine = joinedMachine(features: .react)
        let target = StreamID(milliseconds: 5, sequence: 1)
        #expect(request(#"{"type":"react","payload":{"messageId":"5-1","emoji":"👍"}}"#, &machine) == [
            .reactEvent(room: room, target: target, emoji: "👍", sessionID: "s1", author: nil,
                        body: ServerFrames.reactBodyPrefix(messageID: target, emoji: "👍", username: "ann")),
        ])
    }

    /// The script keys the reaction by the author hash, so the member's later sessions toggle it.
    @Test func anAuthoredMembersReactionGoesToTheScriptWithItsHash() throws {
        var machine = authoredMachine()
        let hash = try #require(Self.authors.hash(Self.authorKey))
        let target = StreamID(milliseconds: 5, sequence: 1)
        #expect(request(#"{"type":"react","payload":{"messageId":"5-1","emoji":"👍"}}"#, &machine) == [
            .reactEvent(room: room, target: target, emoji: "👍", sessionID: "s1", author: hash,
                        body: ServerFrames.reactBodyPrefix(messageID: target, emoji: "👍", username: "ann")),
        ])
    }

    @Test func aReactionIsRefusedBeforeAJoinAndCountsAgainstTheRequestBucket() {
        var fresh = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(request(#"{"type":"react","payload":{"messageId":"5-1","emoji":"👍"}}"#, &fresh).first == .count(.error(.notJoined)))
        var machine = joinedMachine(features: .react)  // the join took one token
        for _ in 0..<19 { _ = request(#"{"type":"react","payload":{"messageId":"5-1","emoji":"👍"}}"#, &machine) }
        #expect(request(#"{"type":"react","payload":{"messageId":"5-1","emoji":"👍"}}"#, &machine).first == .count(.error(.rateLimited)))
    }

    @Test func theReactScriptsRefusalsBecomeTheirErrors() {
        var machine = joinedMachine(features: .react)
        #expect(machine.reactCompleted(.done(.stored(Self.id(9), on: true))) == [])
        #expect(machine.reactCompleted(.done(.notFound)).first == .count(.error(.messageNotFound)))
        #expect(machine.reactCompleted(.done(.tooMany)).first == .count(.error(.tooManyReactions)))
        #expect(machine.reactCompleted(.failed(Fault())).last.map { if case .write = $0 { true } else { false } } == true)
    }

    /// Join, `history` and a resync each send a member the frame its features choose.
    @Test func aMessageWithReactionsIsSentWithThemOnlyToMembersGrantedReact() {
        let plain = ByteBuffer(string: #"{"id":"1-0"}"#)
        let withReactions = ByteBuffer(string: #"{"id":"1-0","reactions":{}}"#)
        let stored = [StoredMessage(id: Self.id(1), frame: plain, featured: .init(feature: .react, frame: withReactions))]
        let cases: [(ChatFeatures?, ByteBuffer)] = [(nil, plain), (.edit, plain), (.react, withReactions), ([.edit, .react], withReactions)]
        for (features, expected) in cases {
            let sent = [StoredMessage(id: Self.id(1), frame: expected)]
            var (joining, generation) = joiningMachine(features: features)
            #expect(joining.joinCompleted(generation: generation, .joined(messages: stored, recovered: nil)).dropFirst().first
                == Self.history(sent, recovered: nil))
            var machine = joinedMachine(features: features)
            _ = request(#"{"type":"history"}"#, &machine)
            #expect(machine.historyCompleted(.read(stored)).first == Self.history(sent, recovered: nil))
            #expect(machine.resync(history: stored) == WebSocketWire.text(ServerFrames.history([expected], recovered: false)))
        }
    }
}
