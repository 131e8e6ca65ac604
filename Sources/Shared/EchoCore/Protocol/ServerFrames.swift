import NIOCore

/// The JSON of every frame the server sends, in the shapes Echo Chat's client reads.
public enum ServerFrames {
    /// `limits` tells the client what the server enforces; Echo Chat's client ignores the field.
    /// `features`: what the join asked for and got; nil (no field) when it asked for nothing.
    /// `moderation` (members granted ``ChatFeatures/moderation`` only): whether the room is locked,
    /// and the `ownerKey` when this join created the room.
    /// `encrypted`: the room is end-to-end encrypted (then `limits` also says how large a
    /// ciphertext may be).
    public static func session(
        sessionID: String, roomID: String, username: String, limits: ClientLimits, features: ChatFeatures? = nil,
        encrypted: Bool = false, moderation: SessionModeration? = nil
    ) -> ByteBuffer {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("type"); w.string("session")
        w.key("sessionId"); w.string(sessionID)
        w.key("roomId"); w.string(roomID)
        w.key("username"); w.string(username)
        w.key("limits")
        w.beginObject()
        w.key("messageLength"); w.int(limits.messageLength)
        w.key("imageBytes"); w.int(limits.imageBytes)
        w.key("ratePerMinute"); w.int(limits.ratePerMinute)
        w.key("rateBurst"); w.int(limits.rateBurst)
        if encrypted { w.key("ciphertextBytes"); w.int(limits.ciphertextBytes) }
        w.endObject()
        if encrypted { w.key("encrypted"); w.bool(true) }
        if let features {
            w.key("features")
            w.beginArray()
            for name in features.names { w.string(name) }
            w.endArray()
        }
        if let moderation {
            w.key("locked"); w.bool(moderation.locked)
            if let ownerKey = moderation.ownerKey {
                w.key("ownerKey"); w.string(ownerKey.text)
            }
        }
        w.endObject()
        return w.buffer
    }

    public static func error(_ error: ProtocolError) -> ByteBuffer {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.key("type"); w.string("error")
        w.key("code"); w.string(error.code.rawValue)
        w.key("message"); w.string(error.message)
        if let retry = error.retryAfterMilliseconds {
            w.key("retryAfterMs"); w.int(retry)
        }
        if let clientID = error.clientID {
            w.key("clientId"); w.string(clientID)
        }
        w.endObject()
        return w.buffer
    }

    /// `{"type":"challenge","nonce"}`: what the next join signs to prove an encrypted room's key.
    public static func challenge(nonce: String) -> ByteBuffer {
        var w = JSONWriter(capacity: 80)
        w.beginObject()
        w.key("type"); w.string("challenge")
        w.key("nonce"); w.string(nonce)
        w.endObject()
        return w.buffer
    }

    public static func pong(timestamp: Int) -> ByteBuffer {
        var w = JSONWriter(capacity: 32)
        w.beginObject()
        w.key("type"); w.string("pong")
        w.key("ts"); w.int(timestamp)
        w.endObject()
        return w.buffer
    }

    /// `{"type":"history","messages":[...]}`; `recovered` only on a resume.
    public static func history(_ messages: [ByteBuffer], recovered: Bool?) -> ByteBuffer {
        var w = JSONWriter(capacity: 64 + messages.reduce(0) { $0 + $1.readableBytes + 1 })
        w.beginObject()
        w.key("type"); w.string("history")
        w.key("messages")
        w.beginArray()
        for message in messages { w.raw(message) }
        w.endArray()
        if let recovered {
            w.key("recovered"); w.bool(recovered)
        }
        w.endObject()
        return w.buffer
    }

    /// A chat message as stored in the room's stream: everything but its id, which Redis assigns.
    public static func chatBody(
        sender: String, sessionID: String, request: ChatRequest, timestamp: Int
    ) -> ByteBuffer {
        var w = JSONWriter(capacity: 160 + (request.text?.utf8.count ?? 0) + (request.image?.utf8.count ?? 0) + (request.sealed?.ciphertext.utf8.count ?? 0))
        w.beginObject()
        w.key("sender"); w.string(sender)
        w.key("sessionId"); w.string(sessionID)
        if let sealed = request.sealed {
            // An encrypted room's message: what the person wrote, reply included, is inside.
            w.key("ciphertext"); w.string(sealed.ciphertext)
            w.key("iv"); w.string(sealed.iv)
        } else {
            w.key("text"); w.string(request.text ?? "")
            w.key("image"); w.string(request.image)
            w.key("replyTo")
            if let reply = request.replyTo {
                w.beginObject()
                w.key("messageId"); w.string(reply.messageID)
                w.key("sender"); w.string(reply.sender)
                w.key("sessionId"); w.string(reply.sessionID)
                w.key("preview"); w.string(reply.preview)
                w.key("isImage"); w.bool(reply.isImage)
                w.endObject()
            } else {
                w.null()
            }
        }
        w.key("timestamp"); w.int(timestamp)
        w.key("clientId"); w.string(request.clientID)
        w.endObject()
        return w.buffer
    }

    /// The frame of a room event (``RoomEvent``), as clients receive it live and in history.
    public static func event(_ event: RoomEvent) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.reserveCapacity(event.body.readableBytes + 64)
        write(event, into: &frame)
        return frame
    }

    /// ``event(_:)`` written into `frame` (a WebSocket frame being built, for fan-out). Built by
    /// splicing bytes: an event from Redis is never parsed or re-encoded.
    public static func write(_ event: RoomEvent, into frame: inout ByteBuffer) {
        switch event {
        case .chat(let position, let body):
            writeChat(id: position.text, body: body, into: &frame)
        case .system(let json), .typing(let json, _), .lock(let json):
            frame.writeImmutableBuffer(json)
        case .kick(let json, _, let author):
            // Everything but the author hash, which only the workers read.
            let visible = json.readableBytes - (author == nil ? 1 : kickAuthorSuffixLength)
            frame.writeImmutableBuffer(json.getSlice(at: json.readerIndex, length: visible) ?? json)
            frame.writeInteger(UInt8(ascii: "}"))
        case .edit(let position, let body):
            writeAmendment(type: "{\"type\":\"edit\",\"id\":\"", id: position.text, body: body, into: &frame)
        case .delete(let position, let body):
            writeAmendment(type: "{\"type\":\"delete\",\"id\":\"", id: position.text, body: body, into: &frame)
        case .react(let position, let body):
            writeAmendment(type: "{\"type\":\"react\",\"id\":\"", id: position.text, body: body, into: &frame)
        }
    }

    /// `{"type":TYPE,"id":ID,` + the stored body after its `{` (which names the `messageId`).
    private static func writeAmendment(type: StaticString, id: ByteBuffer, body: ByteBuffer, into frame: inout ByteBuffer) {
        frame.writeStaticString(type)
        frame.writeImmutableBuffer(id)
        frame.writeStaticString("\"")
        var rest = body
        rest.moveReaderIndex(forwardBy: 1)
        if rest.readableBytes > 1 { frame.writeInteger(UInt8(ascii: ",")) }
        frame.writeBuffer(&rest)
    }

    /// An edit as stored in the room's stream: `{"messageId","text","editedAt"}`.
    public static func editBody(messageID: StreamID, text: String, editedAt: Int) -> ByteBuffer {
        var w = JSONWriter(capacity: 64 + text.utf8.count)
        w.beginObject()
        w.key("messageId"); w.string(messageID.description)
        w.key("text"); w.string(text)
        w.key("editedAt"); w.int(editedAt)
        w.endObject()
        return w.buffer
    }

    /// An encrypted room's edit as stored in the room's stream: `{"messageId","ciphertext","iv","editedAt"}`.
    public static func editBody(messageID: StreamID, sealed: SealedPayload, editedAt: Int) -> ByteBuffer {
        var w = JSONWriter(capacity: 96 + sealed.ciphertext.utf8.count)
        w.beginObject()
        w.key("messageId"); w.string(messageID.description)
        w.key("ciphertext"); w.string(sealed.ciphertext)
        w.key("iv"); w.string(sealed.iv)
        w.key("editedAt"); w.int(editedAt)
        w.endObject()
        return w.buffer
    }

    /// A delete as stored in the room's stream: `{"messageId"}`.
    public static func deleteBody(messageID: StreamID) -> ByteBuffer {
        var w = JSONWriter(capacity: 48)
        w.beginObject()
        w.key("messageId"); w.string(messageID.description)
        w.endObject()
        return w.buffer
    }

    /// A reaction as stored in the room's stream, up to its `sessionId` value:
    /// `{"messageId","emoji","username","sessionId":`. ``ReactScript`` appends the session (quoted)
    /// and `,"on":true}` or `,"on":false}`: only the script knows whether this request turned the
    /// reaction on or off, and, when off, which session had turned it on (the member's earlier
    /// session, or another tab of its `authorKey`), the one that history and clients fold by.
    public static func reactBodyPrefix(messageID: StreamID, emoji: String, username: String) -> ByteBuffer {
        var w = JSONWriter(capacity: 80 + emoji.utf8.count + username.utf8.count)
        w.beginObject()
        w.key("messageId"); w.string(messageID.description)
        w.key("emoji"); w.string(emoji)
        w.key("username"); w.string(username)
        w.key("sessionId")
        return w.buffer
    }

    /// `{"type":"chat","id":ID,"messageId":ID,` + the stored body after its `{`. `id` is the ID's
    /// bytes as Redis sent them, already validated as a ``StreamID``, so they need no escaping.
    private static func writeChat(id: ByteBuffer, body: ByteBuffer, into frame: inout ByteBuffer) {
        frame.writeStaticString("{\"type\":\"chat\",\"id\":\"")
        frame.writeImmutableBuffer(id)
        frame.writeStaticString("\",\"messageId\":\"")
        frame.writeImmutableBuffer(id)
        frame.writeStaticString("\"")
        var rest = body
        rest.moveReaderIndex(forwardBy: 1)  // the body's opening brace
        if rest.readableBytes > 1 { frame.writeInteger(UInt8(ascii: ",")) }
        frame.writeBuffer(&rest)
    }

    /// `{"type":"typing","sessionId","username"}`: published whole (``RoomEvent/typing(_:sender:)``).
    public static func typing(sessionID: String, username: String) -> ByteBuffer {
        var w = JSONWriter(capacity: 64 + username.utf8.count)
        w.beginObject()
        w.key("type"); w.string("typing")
        w.key("sessionId"); w.string(sessionID)
        w.key("username"); w.string(username)
        w.endObject()
        return w.buffer
    }

    /// The session ID in a ``typing(sessionID:username:)`` frame, as a slice of it; nil for
    /// anything else. Session IDs are tokens (no escaping), so the ID runs to the next quote.
    static func typingSender(_ json: ByteBuffer) -> ByteBuffer? {
        let prefix = #"{"type":"typing","sessionId":""#.utf8
        let bytes = json.readableBytesView
        guard bytes.starts(with: prefix) else { return nil }
        let start = bytes.startIndex + prefix.count
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\"")), end > start,
              bytes[start..<end].allSatisfy(InputRules.isIDByte) else { return nil }
        return json.getSlice(at: start, length: end - start)
    }

    /// `{"type":"lock","locked":...}`: published whole (``RoomEvent/lock(_:)``).
    public static func lock(locked: Bool) -> ByteBuffer {
        var w = JSONWriter(capacity: 32)
        w.beginObject()
        w.key("type"); w.string("lock")
        w.key("locked"); w.bool(locked)
        w.endObject()
        return w.buffer
    }

    /// The kick's System event up to its `username` value: ``ModerationScript`` appends the kicked
    /// member's name (read from the room, written by Echo after the username rule, so it needs no
    /// escaping), then `,"author":"<hash>"` when the member had one, and the closing brace.
    public static func kickEventPrefix(sessionID: String, timestamp: Int) -> ByteBuffer {
        var w = JSONWriter(capacity: 128)
        w.beginObject()
        w.key("sender"); w.string("System")
        w.key("message"); w.string("kick")
        w.key("sessionId"); w.string(sessionID)
        w.key("timestamp"); w.int(timestamp)
        w.key("username")
        return w.buffer
    }

    /// `,"author":"` + 64 hex digits + `"}`: how a kick event ends when the member had an author hash.
    static let kickAuthorSuffixLength = 11 + 64 + 2

    /// The kicked session and author hash in a kick event (slices of it); nil for anything else.
    static func kickParts(_ json: ByteBuffer) -> (target: ByteBuffer, author: ByteBuffer?)? {
        let prefix = #"{"sender":"System","message":"kick","sessionId":""#.utf8
        let bytes = json.readableBytesView
        guard bytes.starts(with: prefix) else { return nil }
        let start = bytes.startIndex + prefix.count
        guard let end = bytes[start...].firstIndex(of: UInt8(ascii: "\"")), end > start,
              bytes[start..<end].allSatisfy(InputRules.isIDByte),
              let target = json.getSlice(at: start, length: end - start) else { return nil }
        // A string value cannot hold an unescaped quote, so the suffix is only ever the last field.
        let suffix = bytes.suffix(kickAuthorSuffixLength)
        guard suffix.count == kickAuthorSuffixLength, suffix.starts(with: #","author":""#.utf8),
              suffix.suffix(2).elementsEqual(#""}"#.utf8) else {
            return (target, nil)
        }
        let hashStart = suffix.startIndex + 11
        let hash = bytes[hashStart..<(hashStart + 64)]
        guard hash.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return (target, nil) }
        return (target, json.getSlice(at: hashStart, length: 64))
    }

    /// A system event up to its `usersCount` value; the Lua script that changes the member set
    /// appends the count and the closing brace, so the count is exact at the moment of the change.
    public static func systemEventPrefix(event: String, username: String, sessionID: String, timestamp: Int) -> ByteBuffer {
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.key("sender"); w.string("System")
        w.key("message"); w.string(event)
        w.key("username"); w.string(username)
        w.key("sessionId"); w.string(sessionID)
        w.key("timestamp"); w.int(timestamp)
        w.key("usersCount")
        return w.buffer
    }
}

/// What a `session` frame says about moderation, to a member granted ``ChatFeatures/moderation``.
public struct SessionModeration: Sendable, Equatable {
    public var locked: Bool
    /// Only in the `session` of the join that created the room.
    public var ownerKey: OwnerKey?
    public init(locked: Bool, ownerKey: OwnerKey? = nil) {
        self.locked = locked
        self.ownerKey = ownerKey
    }
}
