import NIOCore

/// Something that happened in a room, as it travels through Redis: published on the room's
/// channel (live fan-out) and, for the kinds a room keeps, stored in its stream (history).
///
/// Events carry their JSON as bytes (what Swift or the Lua script wrote), never parsed on the way
/// out: the renderer (`ServerFrames.write(_:into:)`) splices them into the client's frame once per
/// message, and the same frame goes to every member.
///
/// To add a kind (typing, edit, delete, reaction): a case here, with its ``Kind`` and the
/// switches below; its frame in the renderer; its request rule. docs/architecture.md lists the files.
/// The wire format (below) is the same for every kind and needs no change.
public enum RoomEvent: Sendable, Equatable {
    /// A chat message: its position in the room's stream, and its stored body (a JSON object
    /// without the id, which Redis assigns: `ServerFrames.chatBody`).
    case chat(Position, body: ByteBuffer)
    /// A member joined or left: the whole JSON object clients receive, `usersCount` included
    /// (`ServerFrames.systemEventPrefix` plus the count the script appends). Not stored.
    case system(ByteBuffer)
    /// A member is typing: the whole JSON object clients receive (``ServerFrames/typing(sessionID:username:)``),
    /// and its `sender`'s session ID (a slice of it), whom it is not sent back to. Not stored;
    /// only for members granted ``ChatFeatures/typing``.
    case typing(ByteBuffer, sender: ByteBuffer)
    /// A message's new text: its own position, and its body (``ServerFrames/editBody(messageID:text:editedAt:)``).
    /// Only for members granted ``ChatFeatures/edit``; history applies it for the others.
    case edit(Position, body: ByteBuffer)
    /// A message deleted: its own position, and its body (``ServerFrames/deleteBody(messageID:)``).
    /// Only for members granted ``ChatFeatures/edit``; history applies it for the others.
    case delete(Position, body: ByteBuffer)
    /// A member's reaction to a message turned on or off: its own position, and its body
    /// (``ServerFrames/reactBodyPrefix(messageID:emoji:username:)`` completed by ``ReactScript``
    /// with `sessionId` and `on`). Only for members granted ``ChatFeatures/react``; history folds
    /// it into the message's `reactions` for them, and shows the others nothing of it.
    case react(Position, body: ByteBuffer)
    /// The room's owner removed a member (``ModerationScript``): the System frame members granted
    /// ``ChatFeatures/moderation`` receive, with the kicked `target` session and its `author` hash
    /// (slices of it) after which every worker closes that member's connections. The author
    /// travels as the body's last field, which the renderer leaves out
    /// (``ServerFrames/kickParts(_:)``). Not stored.
    case kick(ByteBuffer, target: ByteBuffer, author: ByteBuffer?)
    /// The room was locked or unlocked: `{"type":"lock","locked":...}`, for members granted
    /// ``ChatFeatures/moderation``. Not stored (the state is in ``RoomKeys/moderation(_:)``).
    case lock(ByteBuffer)

    /// A stream entry ID, parsed, with its bytes as Redis sent them, to splice into frames without
    /// formatting the number again.
    public struct Position: Sendable, Equatable {
        public var id: StreamID
        /// The ID's UTF-8 bytes; validated by ``StreamID`` (digits and one dash), so they need no
        /// escaping in JSON.
        public var text: ByteBuffer

        /// nil unless `text` is a valid stream ID.
        public init?(text: ByteBuffer) {
            guard let id = text.withUnsafeReadableBytes({ StreamID(utf8: $0) }) else { return nil }
            self.id = id
            self.text = text
        }

        public init(_ id: StreamID) {
            self.id = id
            self.text = ByteBuffer(string: id.description)
        }
    }

    /// The event's position in the room's stream; nil for a kind the room does not keep.
    public var position: Position? {
        switch self {
        case .chat(let position, _), .edit(let position, _), .delete(let position, _), .react(let position, _): return position
        case .system, .typing, .kick, .lock: return nil
        }
    }

    /// ``position``'s ID. A member skips an event at or below the position it has
    /// (``ResumePlan/isNew(_:after:)``).
    public var id: StreamID? { position?.id }

    /// The JSON bytes the event carries (for sizing the rendered frame).
    public var body: ByteBuffer {
        switch self {
        case .chat(_, let body), .edit(_, let body), .delete(_, let body), .react(_, let body): return body
        case .system(let json), .typing(let json, _), .kick(let json, _, _), .lock(let json): return json
        }
    }

    /// The member whose connection does not receive this event (the one who sent it); nil: everyone.
    public var sender: ByteBuffer? {
        switch self {
        case .chat, .system, .edit, .delete, .react, .kick, .lock: return nil
        case .typing(_, let sender): return sender
        }
    }

    /// An event kind's marks on the wire. The raw value is its pub/sub tag byte.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case chat = 0x43  // "C"
        case system = 0x53  // "S"
        case typing = 0x54  // "T"
        case edit = 0x45  // "E"
        case delete = 0x58  // "X"
        case react = 0x52  // "R"
        case kick = 0x4B  // "K"
        case lock = 0x4C  // "L"

        /// The field of a stored kind's stream entry; nil for a kind the room does not keep.
        public var streamField: String? {
            switch self {
            case .chat: return "d"
            case .edit: return "e"
            case .delete: return "x"
            case .react: return "r"
            case .system, .typing, .kick, .lock: return nil
            }
        }

        /// The feature a member's join must have been granted to receive this kind; nil: every
        /// member gets it (the kinds Echo Chat's client knows).
        public var feature: ChatFeatures? {
            switch self {
            case .chat, .system: return nil
            case .typing: return .typing
            case .edit, .delete: return .edit
            case .react: return .react
            case .kick, .lock: return .moderation
            }
        }

        /// The tag as the one-character string a script argument carries.
        public var tag: String { String(UnicodeScalar(rawValue)) }
    }

    public var kind: Kind {
        switch self {
        case .chat: return .chat
        case .system: return .system
        case .typing: return .typing
        case .edit: return .edit
        case .delete: return .delete
        case .react: return .react
        case .kick: return .kick
        case .lock: return .lock
        }
    }

    /// The event from its parts; nil when a stored kind has no position or an unstored one has,
    /// or the body is not a JSON object (the renderer splices it: see `ServerFrames.write`). The
    /// one place a decoded kind becomes a case.
    init?(kind: Kind, position: Position?, body: ByteBuffer) {
        guard Self.isObject(body) else { return nil }
        switch (kind, position) {
        case (.chat, let position?): self = .chat(position, body: body)
        case (.system, nil): self = .system(body)
        case (.typing, nil):
            guard let sender = ServerFrames.typingSender(body) else { return nil }
            self = .typing(body, sender: sender)
        case (.edit, let position?): self = .edit(position, body: body)
        case (.delete, let position?): self = .delete(position, body: body)
        case (.react, let position?): self = .react(position, body: body)
        case (.kick, nil):
            guard let parts = ServerFrames.kickParts(body) else { return nil }
            self = .kick(body, target: parts.target, author: parts.author)
        case (.lock, nil): self = .lock(body)
        default: return nil
        }
    }
}

// MARK: - Wire format

/// The one encoding of room events in Redis, and its one decoder, the same for every kind.
///
/// - Pub/sub payload on ``RoomKeys/channel(_:)``: the kind's tag byte, then for a kind the room
///   keeps `<stream id> <body>`, else `<body>`. Today: `C<id> <chat body>`, `S<system JSON>` and
///   `T<typing JSON>`.
/// - Stream entry in ``RoomKeys/stream(_:)``: one field, named for the kind, holding the body.
///   Today: `d` → chat body.
///
/// A stored event gets its ID from Redis inside the script that stores and publishes it, so that
/// script writes the payload in Lua; it builds it from ``Lua`` (below), which follows the same
/// marks as ``payload``, and the tag and field are passed in from ``Kind``.
extension RoomEvent {
    /// Whether `json` is framed as an object, `{` ... `}`: the renderer splices the body after its
    /// opening brace, so anything else (written to Redis by something other than Echo) would make
    /// a broken frame, or, empty, crash it. The JSON inside is Echo's own and is not parsed again.
    static func isObject(_ json: ByteBuffer) -> Bool {
        json.readableBytes >= 2 && json.getInteger(at: json.readerIndex, as: UInt8.self) == UInt8(ascii: "{")
            && json.getInteger(at: json.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "}")
    }

    // MARK: Pub/sub payload

    /// The pub/sub payload (what the scripts publish for a stored kind, see ``Lua``).
    public var payload: ByteBuffer {
        var payload = ByteBuffer()
        payload.reserveCapacity(body.readableBytes + 32)
        payload.writeInteger(kind.rawValue)
        if let position {
            payload.writeImmutableBuffer(position.text)
            payload.writeInteger(UInt8(ascii: " "))
        }
        payload.writeImmutableBuffer(body)
        return payload
    }

    /// Decodes a pub/sub payload; nil for anything malformed. The body and ID are slices of
    /// `payload` (no copy): this runs once per published message on the fan-out path.
    public init?(payload: ByteBuffer) {
        var payload = payload
        guard let tag = payload.readInteger(as: UInt8.self), let kind = Kind(rawValue: tag) else { return nil }
        var position: Position? = nil
        if kind.streamField != nil {
            guard let space = payload.readableBytesView.firstIndex(of: UInt8(ascii: " ")),
                  let text = payload.readSlice(length: space - payload.readerIndex),
                  let parsed = Position(text: text) else { return nil }
            payload.moveReaderIndex(forwardBy: 1)
            position = parsed
        }
        self.init(kind: kind, position: position, body: payload)
    }

    // MARK: Stream entry

    /// Decodes one stream entry as XRANGE returns it (`[id, [field, value]]`); nil for anything
    /// else (an entry Echo did not write is skipped, never fatal).
    public init?(streamEntry: RESPValue) {
        guard case .array(let parts) = streamEntry, parts.count == 2, let text = parts[0].buffer,
              let position = Position(text: text), case .array(let fields) = parts[1], fields.count >= 2,
              let field = fields[0].buffer, let body = fields[1].buffer,
              let kind = Self.storedKinds.first(where: { field.readableBytesView.elementsEqual($0.field.utf8) })?.kind
        else { return nil }
        self.init(kind: kind, position: position, body: body)
    }

    /// The stream entry field that holds the writer's authorship hash (``AuthorHasher``), after
    /// the body's field; the decoder reads only the first field, so members never see it.
    static let authorField = "a"

    /// The kinds a room keeps, with their stream field (built once: decoding runs per entry).
    private static let storedKinds: [(kind: Kind, field: String)] = Kind.allCases.compactMap { kind in
        kind.streamField.map { (kind, $0) }
    }

    /// Decodes a stream read (XRANGE / XREVRANGE reply), skipping entries that do not decode.
    static func events(fromStream reply: RESPValue) -> [RoomEvent] {
        guard case .array(let entries) = reply else { return [] }
        var events: [RoomEvent] = []
        events.reserveCapacity(entries.count)
        for entry in entries {
            if let event = RoomEvent(streamEntry: entry) { events.append(event) }
        }
        return events
    }

    /// The wire format in Lua, for the scripts that publish and store events (``ChatScript``,
    /// ``JoinScript``, ``LeaveScript``): each function returns a Lua expression, its parameters
    /// are Lua expressions too.
    enum Lua {
        /// The payload of a stored event (``payload`` of `.chat`).
        static func storedPayload(tag: String, id: String, body: String) -> String {
            "\(tag) .. \(id) .. ' ' .. \(body)"
        }

        /// The payload of an event the room does not keep (``payload`` of `.system`).
        static func unstoredPayload(tag: String, body: String) -> String {
            "\(tag) .. \(body)"
        }

        /// A Lua string literal of `kind`'s tag.
        static func tag(_ kind: Kind) -> String { "'\(kind.tag)'" }
    }
}
