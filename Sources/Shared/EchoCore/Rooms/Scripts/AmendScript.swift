import NIOCore

/// What an edit or a delete came to.
public enum AmendOutcome: Sendable, Equatable {
    /// Stored and published (fanned out to the members granted `edit`).
    case stored(StreamID)
    /// A retry (same `clientId`) of one stored before: nothing was done again.
    case duplicate(StreamID)
    /// No chat message has that ID (never, trimmed, or deleted).
    case notFound
    /// The message was written without an author key, or with another one.
    case notAuthor
    /// An edit later than the edit window after the message.
    case windowClosed
}

/// Edits or deletes a chat message, atomically, in one round trip: checks that the message is
/// there and a chat, that the stored authorship hash is the caller's, and (an edit) that the
/// message is younger than the edit window by Redis's clock; then appends the edit or delete to
/// the room's stream as its own entry (a resume replays it in order) and publishes it. A delete
/// also removes the original entry (XDEL), so its text and image bytes do not stay in Redis, and
/// its reactions (``RoomKeys/reactions(room:message:)``).
///
/// Every key is the room's (one slot in the tagged layout); the dedupe key last, only with a `clientId`.
public struct AmendScript: RedisScriptCall {
    public typealias Response = AmendOutcome

    public var roomKeys: RoomKeys
    public var room: String
    /// `.edit` or `.delete`.
    public var kind: RoomEvent.Kind
    public var target: StreamID
    /// The caller's ``AuthorHasher`` hash.
    public var author: String
    /// ``ServerFrames/editBody(messageID:text:editedAt:)`` or ``ServerFrames/deleteBody(messageID:)``.
    public var body: ByteBuffer
    public var clientID: String?
    /// nil: no window (a delete).
    public var windowMilliseconds: Int?
    public var streamMaxLength: Int
    public var roomTTLSeconds: Int
    public var dedupeSeconds: Int

    public var keys: [String] {
        let keys = [roomKeys.stream(room), roomKeys.channel(room), roomKeys.info(room), roomKeys.reactions(room: room, message: target)]
        guard let clientID else { return keys }
        return keys + [roomKeys.dedupe(room: room, clientID: clientID)]
    }

    public var arguments: [RESPArgument] {
        [.string(target.description), .string(author), .integer(windowMilliseconds ?? -1), .bytes(body), .string(kind.streamField ?? ""),
         .integer(streamMaxLength), .integer(roomTTLSeconds), .string(roomKeys.publishCommand), .string(kind == .delete ? "1" : "0"),
         .integer(dedupeSeconds), .string(kind.tag)]
    }

    public static let script = RedisScript(name: "amend", source: """
        if KEYS[5] then
          local seen = redis.call('GET', KEYS[5])
          if seen then return {'dup', seen} end
        end
        \(LuaSnippets.chatEntry(stream: "KEYS[1]", id: "ARGV[1]"))
        local author = nil
        local fields = entry[2]
        for i = 3, #fields, 2 do
          if fields[i] == '\(RoomEvent.authorField)' then author = fields[i + 1] end
        end
        if author == nil or author ~= ARGV[2] then return {'notAuthor'} end
        local window = tonumber(ARGV[3])
        if window >= 0 then
          \(LuaSnippets.now)
          local written = tonumber(string.match(ARGV[1], '^(%d+)'))
          if now - written > window then return {'closed'} end
        end
        \(LuaSnippets.appendAndPublish(
            stream: "KEYS[1]", channel: "KEYS[2]", info: "KEYS[3]", maxLength: "ARGV[6]", field: "ARGV[5]", body: "ARGV[4]", publish: "ARGV[8]",
            tag: "ARGV[11]", ttl: "ARGV[7]"))
        if ARGV[9] == '1' then
          redis.call('XDEL', KEYS[1], ARGV[1])
          redis.call('DEL', KEYS[4])
        end
        if KEYS[5] then redis.call('SET', KEYS[5], id, 'EX', ARGV[10]) end
        return {'ok', id}
        """)

    /// `{'ok', id}` | `{'dup', id}` | `{'missing'}` | `{'notAuthor'}` | `{'closed'}`.
    public func decode(_ reply: RESPValue) throws -> AmendOutcome {
        guard case .array(let parts) = reply, let status = parts.first?.string else { throw unexpected(reply) }
        let id = parts.count > 1 ? parts[1].buffer.flatMap(RoomEvent.Position.init(text:))?.id : nil
        switch (status, id) {
        case ("ok", let id?): return .stored(id)
        case ("dup", let id?): return .duplicate(id)
        case ("missing", nil): return .notFound
        case ("notAuthor", nil): return .notAuthor
        case ("closed", nil): return .windowClosed
        default: throw unexpected(reply)
        }
    }
}
