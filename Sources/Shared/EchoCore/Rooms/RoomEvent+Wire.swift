import NIOCore

/// The one encoding of room events in Redis, and its one decoder.
///
/// - Pub/sub payload on ``RoomKeys/channel(_:)``: the kind's tag byte, then for a kind the room
///   keeps `<stream id> <body>`, else `<body>`. Today: `C<id> <chat body>` and `S<system JSON>`.
/// - Stream entry in ``RoomKeys/stream(_:)``: one field, named for the kind, holding the body.
///   Today: `d` → chat body.
///
/// A stored event gets its ID from Redis inside the script that stores and publishes it, so that
/// script writes the payload in Lua; it builds it from ``Lua`` (below), which follows the same
/// marks as ``payload``, and the tag and field are passed in from ``Kind``.
extension RoomEvent {
    /// An event kind's marks on the wire. The raw value is its pub/sub tag byte.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case chat = 0x43  // "C"
        case system = 0x53  // "S"

        /// The field of a stored kind's stream entry; nil for a kind the room does not keep.
        public var streamField: String? {
            switch self {
            case .chat: return "d"
            case .system: return nil
            }
        }

        /// The tag as the one-character string a script argument carries.
        public var tag: String { String(UnicodeScalar(rawValue)) }
    }

    public var kind: Kind {
        switch self {
        case .chat: return .chat
        case .system: return .system
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
        default: return nil
        }
    }

    /// Whether `json` is framed as an object: `{` ... `}`. Only the frame is checked (the body
    /// was written by Echo's own encoder); the renderer relies on it.
    private static func isObject(_ json: ByteBuffer) -> Bool {
        json.readableBytes >= 2 && json.readableBytesView.first == UInt8(ascii: "{")
            && json.readableBytesView.last == UInt8(ascii: "}")
    }

    // MARK: Pub/sub payload

    /// The pub/sub payload (what the scripts publish for a stored kind, see ``Lua``).
    public var payload: ByteBuffer {
        var payload = ByteBuffer()
        payload.reserveCapacity(body.readableBytes + 32)
        payload.writeInteger(kind.rawValue)
        if case .chat(let position, _) = self {
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
              let kind = Kind.allCases.first(where: { $0.streamField.map { field.readableBytesView.elementsEqual($0.utf8) } ?? false })
        else { return nil }
        self.init(kind: kind, position: position, body: body)
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
