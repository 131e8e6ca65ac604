@testable import EchoCore
import EchoShared
import Foundation
import NIOCore
import Testing

/// History with its edits and deletes applied (``StoredMessage/messages(_:)``), without Redis.
@Suite struct StoredHistoryTests {
    static func id(_ n: UInt64) -> StreamID { StreamID(milliseconds: n, sequence: 0) }
    static func position(_ n: UInt64) -> RoomEvent.Position { RoomEvent.Position(id(n)) }

    static func chat(_ n: UInt64, _ text: String, image: String? = nil, replyTo: UInt64? = nil) -> RoomEvent {
        let reply = replyTo.map { ReplyReference(messageID: id($0).description, sender: "bob", sessionID: "s2", preview: "quoted", isImage: true) }
        let request = ChatRequest(roomID: nil, text: text, image: image, replyTo: reply, clientID: nil)
        return .chat(position(n), body: ServerFrames.chatBody(sender: "ann", sessionID: "s1", request: request, timestamp: 1000))
    }

    static func edit(_ n: UInt64, of target: UInt64, _ text: String) -> RoomEvent {
        .edit(position(n), body: ServerFrames.editBody(messageID: id(target), text: text, editedAt: 5000 + Int(n)))
    }

    static func delete(_ n: UInt64, of target: UInt64) -> RoomEvent {
        .delete(position(n), body: ServerFrames.deleteBody(messageID: id(target)))
    }

    static func json(_ message: StoredMessage) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(message.frame.readableBytesView))) as? [String: Any] ?? [:]
    }

    @Test func withoutEditsOrDeletesEveryFrameIsTheSplicedOne() {
        let events = [Self.chat(1, "a"), Self.chat(2, "b")]
        #expect(StoredMessage.messages(events) == events.compactMap(StoredMessage.init))
        #expect(StoredMessage.messages(events).allSatisfy { $0.requires.isEmpty })
    }

    @Test func anEditedMessageCarriesItsNewestTextAndTheEditEntriesNeedTheFeature() {
        let messages = StoredMessage.messages([Self.chat(1, "first"), Self.edit(2, of: 1, "second"), Self.edit(3, of: 1, "third")])
        #expect(messages.map(\.id) == [Self.id(1), Self.id(2), Self.id(3)])
        #expect(messages.map(\.requires) == [[], .edit, .edit])
        let edited = Self.json(messages[0])
        #expect(edited["type"] as? String == "chat")
        #expect(edited["messageId"] as? String == "1-0")
        #expect(edited["text"] as? String == "third")
        #expect(edited["editedAt"] as? Int == 5003)
        #expect(edited["sender"] as? String == "ann")
        #expect(Self.json(messages[1])["type"] as? String == "edit")
        #expect(Self.json(messages[1])["messageId"] as? String == "1-0")
    }

    /// The delete removed the original entry: it comes back as a tombstone at its place.
    @Test func anEncryptedRoomsEditReplacesTheCiphertextAndIVNothingElse() {
        let sealed = { (n: UInt64) in SealedPayload(ciphertext: String(repeating: "A", count: Int(n) + 22), iv: "IV\(n)IV\(n)IV\(n)IV\(n)") }
        let request = ChatRequest(roomID: nil, text: nil, image: nil, replyTo: nil, clientID: "c1", sealed: sealed(1))
        let chat = RoomEvent.chat(Self.position(1), body: ServerFrames.chatBody(sender: "ann", sessionID: "s1", request: request, timestamp: 1000))
        let edits = [2, 3].map { n in RoomEvent.edit(Self.position(n), body: ServerFrames.editBody(messageID: Self.id(1), sealed: sealed(n), editedAt: 5000 + Int(n))) }
        let messages = StoredMessage.messages([chat] + edits)
        let folded = Self.json(messages[0])
        #expect(folded["ciphertext"] as? String == sealed(3).ciphertext)
        #expect(folded["iv"] as? String == sealed(3).iv)
        #expect(folded["editedAt"] as? Int == 5003)
        #expect(folded["text"] == nil && folded["image"] == nil && folded["replyTo"] == nil, "nothing plain appears")
        #expect(folded["sender"] as? String == "ann" && folded["clientId"] as? String == "c1")
    }

    @Test func aDeletedMessageIsATombstoneForFeaturedMembersWithoutTextOrImage() {
        let messages = StoredMessage.messages([Self.chat(1, "keep"), Self.chat(3, "after"), Self.delete(4, of: 2)])
        #expect(messages.map(\.id) == [Self.id(1), Self.id(2), Self.id(3), Self.id(4)])
        #expect(messages.map(\.requires) == [[], .edit, [], .edit])
        #expect(String(buffer: messages[1].frame) == #"{"type":"chat","id":"2-0","messageId":"2-0","deleted":true}"#)
        #expect(String(buffer: messages[3].frame) == #"{"type":"delete","id":"4-0","messageId":"2-0"}"#)
    }

    @Test func aDeletedMessageStillInTheStreamIsReplacedAndItsImageGone() {
        let messages = StoredMessage.messages([Self.chat(1, "secret", image: "data:image/png;base64,AAAA"), Self.delete(2, of: 1)])
        #expect(messages.count == 2)
        #expect(!messages.contains { String(buffer: $0.frame).contains("secret") || String(buffer: $0.frame).contains("base64") })
        #expect(messages[0].requires == .edit)
    }

    @Test func aDeleteOfAMessageOlderThanTheStretchAddsNoTombstone() {
        let messages = StoredMessage.messages([Self.chat(5, "x"), Self.delete(6, of: 1)])
        #expect(messages.map(\.id) == [Self.id(5), Self.id(6)])
    }

    @Test func aReplyQuotingADeletedMessageShowsDeleted() {
        let messages = StoredMessage.messages([Self.chat(2, "answer", replyTo: 1), Self.chat(3, "other", replyTo: 9), Self.delete(4, of: 1)])
        let reply = Self.json(messages[0])["replyTo"] as? [String: Any]
        #expect(reply?["preview"] as? String == "deleted")
        #expect(reply?["isImage"] as? Bool == false)
        #expect(reply?["deleted"] as? Bool == true)
        #expect((Self.json(messages[1])["replyTo"] as? [String: Any])?["preview"] as? String == "quoted")
    }

    // MARK: Reactions

    static func react(_ n: UInt64, of target: UInt64, _ emoji: String, session: String, username: String, on: Bool) -> RoomEvent {
        var body = ServerFrames.reactBodyPrefix(messageID: id(target), emoji: emoji, username: username)
        body.writeString(#""\#(session)","on":\#(on)}"#)
        return .react(position(n), body: body)
    }

    static func json(_ frame: ByteBuffer?) -> [String: Any] {
        frame.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.readableBytesView))) as? [String: Any] } ?? [:]
    }

    /// Toggled by session, shown by username in the order they reacted; an emoji nobody has on is gone.
    @Test func reactionsAreFoldedIntoTheMessageForMembersGrantedReact() {
        let events = [
            Self.chat(1, "hi"), Self.chat(2, "untouched"),
            Self.react(3, of: 1, "👍", session: "s1", username: "alice", on: true),
            Self.react(4, of: 1, "👍", session: "s2", username: "bob", on: true),
            Self.react(5, of: 1, "🎉", session: "s1", username: "alice", on: true),
            Self.react(6, of: 1, "🎉", session: "s1", username: "alice", on: false),
            Self.react(7, of: 1, "❤️", session: "s3", username: "carol", on: true),
            Self.react(8, of: 1, "👍", session: "s1", username: "alice", on: false),
            Self.react(9, of: 1, "👍", session: "s1", username: "alice", on: true),
        ]
        let messages = StoredMessage.messages(events)
        #expect(messages.map(\.id) == (1...9).map(Self.id))
        #expect(messages.map(\.requires) == [[], []] + Array(repeating: .react, count: 7))
        let message = messages[0]
        #expect(message.featured?.feature == .react)
        // The frame for everyone else is the message as written.
        #expect(Self.json(message.frame)["reactions"] == nil)
        #expect(Self.json(message.frame(for: nil))["reactions"] == nil)
        #expect(Self.json(message.frame(for: [.typing, .edit]))["reactions"] == nil)
        let reactions = Self.json(message.frame(for: .react))["reactions"] as? [String: [String]]
        #expect(reactions == ["👍": ["bob", "alice"], "❤️": ["carol"]])
        #expect(Self.json(message.frame(for: .react))["text"] as? String == "hi")
        #expect(messages[1].featured == nil)
        // The react entries themselves: only for members granted react.
        #expect(messages[2].frame(for: nil) == nil && messages[2].frame(for: .edit) == nil)
        #expect(Self.json(messages[2].frame(for: .react))["type"] as? String == "react")
        #expect(Self.json(messages[7].frame(for: .react))["on"] as? Bool == false)
    }

    /// ``ReactScript`` writes an off with the session that turned the reaction on (the member's
    /// earlier session, or another tab of its authorKey) and the reactor's current name: the off
    /// removes that session's entry, and the name in it does not matter.
    @Test func anOffFromTheMembersLaterSessionRemovesTheEntryOfTheSessionThatTurnedItOn() {
        let messages = StoredMessage.messages([
            Self.chat(1, "hi"),
            Self.react(2, of: 1, "👍", session: "s1", username: "alice", on: true),
            Self.react(3, of: 1, "👍", session: "s2", username: "bob", on: true),
            // alice reloaded (session s3) and renamed herself: her off names s1.
            Self.react(4, of: 1, "👍", session: "s1", username: "alicia", on: false),
            Self.react(5, of: 1, "🎉", session: "s3", username: "alicia", on: true),
            // Her other tab (s4) turns the 🎉 of s3 off.
            Self.react(6, of: 1, "🎉", session: "s3", username: "alicia", on: false),
            Self.react(7, of: 1, "👍", session: "s4", username: "alicia", on: true),
        ])
        #expect(Self.json(messages[0].frame(for: .react))["reactions"] as? [String: [String]] == ["👍": ["bob", "alicia"]])
    }

    @Test func everyReactionTurnedOffLeavesNoReactionsField() {
        let messages = StoredMessage.messages([
            Self.chat(1, "hi"), Self.react(2, of: 1, "👍", session: "s1", username: "alice", on: true),
            Self.react(3, of: 1, "👍", session: "s1", username: "alice", on: false),
        ])
        #expect(messages[0].featured == nil)
    }

    @Test func atMostTwentyEmojiAreShownTheFirstOnes() {
        let emoji = (0..<25).map { String(UnicodeScalar(0x1F600 + $0)!) }
        let events = [Self.chat(1, "hi")] + emoji.enumerated().map { Self.react(UInt64($0.offset + 2), of: 1, $0.element, session: "s1", username: "a", on: true) }
        let reactions = Self.json(StoredMessage.messages(events)[0].frame(for: .react))["reactions"] as? [String: [String]]
        #expect(reactions.map { Set($0.keys) } == Set(emoji.prefix(ReactScript.maxEmoji)))
    }

    @Test func aDeletedMessageLosesItsReactionsAndAnEditKeepsThem() {
        let messages = StoredMessage.messages([
            Self.chat(1, "gone"), Self.chat(2, "kept"),
            Self.react(3, of: 1, "👍", session: "s1", username: "alice", on: true),
            Self.react(4, of: 2, "👍", session: "s1", username: "alice", on: true),
            Self.edit(5, of: 2, "kept, edited"), Self.delete(6, of: 1),
        ])
        #expect(messages[0].featured == nil && messages[0].requires == .edit)
        #expect(!String(buffer: messages[0].frame).contains("reactions"))
        let kept = Self.json(messages[1].frame(for: [.edit, .react]))
        #expect(kept["text"] as? String == "kept, edited")
        #expect(kept["reactions"] as? [String: [String]] == ["👍": ["alice"]])
        #expect(Self.json(messages[1].frame(for: nil))["text"] as? String == "kept, edited")
    }

    /// A resume's stretch starts after the message: its react entries come as frames, nothing folds.
    @Test func aReactionToAMessageBeforeTheStretchIsOnlyItsEntry() {
        let messages = StoredMessage.messages([Self.chat(5, "x"), Self.react(6, of: 1, "👍", session: "s1", username: "alice", on: true)])
        #expect(messages.map(\.id) == [Self.id(5), Self.id(6)])
        #expect(messages[0].featured == nil)
    }
}
