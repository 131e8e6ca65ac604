import Foundation
import NIOCore

/// A stretch of the room's stream as members receive it (join, resume, `history`, the replay
/// after a Redis fault), with its edits, deletes and reactions applied: the stream keeps each
/// message as it was written and each edit, delete and reaction as an entry of its own, and this
/// is the one place that folds them together. Pure (unit-tested without Redis).
///
/// - An edited message carries its newest text and `editedAt` (a client that predates `edit`
///   ignores the field and shows the new text).
/// - A deleted message (its entry is gone from the stream: the delete removed it) becomes
///   `{"type":"chat","id","messageId","deleted":true}` at its place, for members granted `edit`
///   only; for the others it is just not there.
/// - A message quoting a deleted one has `replyTo.preview` "deleted", `isImage` false, and
///   `replyTo.deleted` true.
/// - The edit and delete entries stay in the list (for members granted `edit`), so a resuming
///   client replays them in order.
/// - A message with reactions has a second frame for members granted `react`
///   (``StoredMessage/featured``) carrying `reactions`, `{"👍":["alice","bob"]}`: each react
///   entry turns its session's reaction on or off (its `on`; an off names the session that had
///   turned the reaction on, whichever session of that member asked: ``ReactScript``), the names
///   are the usernames of the sessions whose reaction is on, in the order they reacted, and at most
///   ``ReactScript/maxEmoji`` emoji (the first ones) are shown. Members without `react` get the
///   message without the field, and no react entries; a deleted message has no reactions. The
///   react entries stay in the list for members granted `react`, so a resume replays them; each
///   one says the state it set (`on`), so replaying one already folded in changes nothing.
///
/// Only within the stretch: an edit whose message is older than the stretch changes nothing
/// here (members granted `edit` get the edit entry itself), and so does a reaction. A message's
/// later entries are all after it, so a stretch that runs to the stream's end (join, `history`,
/// a resume) folds every one. Bodies are parsed only when the stretch holds an edit, a delete
/// or a reaction; chat without any is spliced as before.
extension StoredMessage {
    static func messages(_ events: [RoomEvent]) -> [StoredMessage] {
        // The fields an edit replaces: `text` (or an encrypted room's `ciphertext` and `iv`) and `editedAt`.
        var edits: [StreamID: [String: Any]] = [:]
        var deleted: Set<StreamID> = []
        var reactions: [StreamID: Reactions] = [:]
        for event in events {
            switch event {
            case .edit(_, let body):
                guard var object = Self.object(body), let target = (object["messageId"] as? String).flatMap(StreamID.init),
                      object["text"] is String || object["ciphertext"] is String else { continue }
                object["messageId"] = nil
                edits[target] = object
            case .delete(_, let body):
                guard let target = (Self.object(body)?["messageId"] as? String).flatMap(StreamID.init) else { continue }
                deleted.insert(target)
            case .react(_, let body):
                guard let object = Self.object(body), let target = (object["messageId"] as? String).flatMap(StreamID.init),
                      let emoji = object["emoji"] as? String, let session = object["sessionId"] as? String,
                      let username = object["username"] as? String, let on = object["on"] as? Bool else { continue }
                reactions[target, default: Reactions()].set(emoji, session: session, username: username, on: on)
            case .chat, .system, .typing, .kick, .lock:
                continue
            }
        }
        guard !edits.isEmpty || !deleted.isEmpty || !reactions.isEmpty else { return events.compactMap(StoredMessage.init) }
        // Tombstones in the stretch only: an older deleted message was never in it.
        var tombstones = deleted.filter { id in events.first?.id.map { id >= $0 } ?? false }.sorted()[...]
        var messages: [StoredMessage] = []
        messages.reserveCapacity(events.count + tombstones.count)
        for event in events {
            guard let id = event.id else { continue }
            while let next = tombstones.first, next < id {
                messages.append(tombstone(next))
                tombstones.removeFirst()
            }
            guard case .chat(let position, var body) = event else {
                if let message = StoredMessage(event) { messages.append(message) }
                continue
            }
            if deleted.contains(position.id) { continue }  // a delete that could not remove it: still deleted
            if let edit = edits[position.id], let rewritten = rewrite(body, { object in
                object.merge(edit) { _, new in new }
            }) {
                body = rewritten
            }
            if !deleted.isEmpty, let quoted = quotedID(body), deleted.contains(quoted), let rewritten = rewrite(body, { object in
                guard var reply = object["replyTo"] as? [String: Any] else { return }
                reply["preview"] = "deleted"
                reply["isImage"] = false
                reply["deleted"] = true
                object["replyTo"] = reply
            }) {
                body = rewritten
            }
            var featured: StoredMessage.Featured? = nil
            if let shown = reactions[position.id]?.shown(), let withReactions = rewrite(body, { $0["reactions"] = shown }) {
                featured = StoredMessage.Featured(feature: .react, frame: ServerFrames.event(.chat(position, body: withReactions)))
            }
            messages.append(StoredMessage(id: position.id, frame: ServerFrames.event(.chat(position, body: body)), featured: featured))
        }
        messages.append(contentsOf: tombstones.map(tombstone))
        return messages
    }

    /// One message's reactions while a stretch is folded: emoji in the order they first appeared,
    /// each with the sessions whose reaction is on (and their usernames), in the order they reacted.
    struct Reactions {
        var order: [String] = []
        var on: [String: [(session: String, username: String)]] = [:]

        mutating func set(_ emoji: String, session: String, username: String, on isOn: Bool) {
            var members = on[emoji] ?? []
            members.removeAll { $0.session == session }
            if isOn { members.append((session, username)) }
            if members.isEmpty {
                on[emoji] = nil
                order.removeAll { $0 == emoji }
            } else {
                if on[emoji] == nil { order.append(emoji) }
                on[emoji] = members
            }
        }

        /// `{"👍": ["alice","bob"]}`, at most ``ReactScript/maxEmoji`` emoji; nil when none is on.
        func shown() -> [String: [String]]? {
            guard !order.isEmpty else { return nil }
            var shown: [String: [String]] = [:]
            for emoji in order.prefix(ReactScript.maxEmoji) { shown[emoji] = on[emoji]?.map(\.username) }
            return shown
        }
    }

    /// `{"type":"chat","id","messageId","deleted":true}`, for members granted `edit`.
    static func tombstone(_ id: StreamID) -> StoredMessage {
        var body = JSONWriter(capacity: 24)
        body.beginObject()
        body.key("deleted"); body.bool(true)
        body.endObject()
        return StoredMessage(id: id, frame: ServerFrames.event(.chat(RoomEvent.Position(id), body: body.buffer)), requires: .edit)
    }

    private static func object(_ body: ByteBuffer) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any]
    }

    /// The message a chat body quotes (`replyTo.messageId`), if any.
    private static func quotedID(_ body: ByteBuffer) -> StreamID? {
        guard let reply = object(body)?["replyTo"] as? [String: Any] else { return nil }
        return (reply["messageId"] as? String).flatMap(StreamID.init)
    }

    /// The body with `change` applied, re-encoded; nil if it does not parse (left as it was).
    private static func rewrite(_ body: ByteBuffer, _ change: (inout [String: Any]) -> Void) -> ByteBuffer? {
        guard var object = object(body) else { return nil }
        change(&object)
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return nil }
        return ByteBuffer(bytes: data)
    }
}
