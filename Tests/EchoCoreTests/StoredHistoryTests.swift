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
}
