import Foundation
import NIOCore

/// A stretch of the room's stream as members receive it (join, resume, `history`, the replay
/// after a Redis fault), with its edits and deletes applied: the stream keeps each message as it
/// was written and each edit and delete as an entry of its own, and this is the one place that
/// folds them together. Pure (unit-tested without Redis).
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
///
/// Only within the stretch: an edit whose message is older than the stretch changes nothing
/// here (members granted `edit` get the edit entry itself). Bodies are parsed only when the
/// stretch holds an edit or a delete; chat without either is spliced as before.
extension StoredMessage {
    static func messages(_ events: [RoomEvent]) -> [StoredMessage] {
        var edits: [StreamID: (text: String, editedAt: Int)] = [:]
        var deleted: Set<StreamID> = []
        for event in events {
            switch event {
            case .edit(_, let body):
                guard let object = Self.object(body), let target = (object["messageId"] as? String).flatMap(StreamID.init),
                      let text = object["text"] as? String else { continue }
                edits[target] = (text, (object["editedAt"] as? Int) ?? 0)
            case .delete(_, let body):
                guard let target = (Self.object(body)?["messageId"] as? String).flatMap(StreamID.init) else { continue }
                deleted.insert(target)
            case .chat, .system, .typing, .kick, .lock:
                continue
            }
        }
        guard !edits.isEmpty || !deleted.isEmpty else { return events.compactMap(StoredMessage.init) }
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
                object["text"] = edit.text
                object["editedAt"] = edit.editedAt
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
            messages.append(StoredMessage(id: position.id, frame: ServerFrames.event(.chat(position, body: body))))
        }
        messages.append(contentsOf: tombstones.map(tombstone))
        return messages
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
