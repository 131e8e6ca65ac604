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
        guard case .join(_, _, let generation)? = machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s1", now: Self.t0).last
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
