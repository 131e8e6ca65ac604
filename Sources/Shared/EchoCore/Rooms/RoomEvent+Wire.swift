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
    /// Whether `json` is framed as an object: `{` ... `}`. Only the frame is checked (the body
    /// was written by Echo's own encoder); the renderer relies on it.
    static func isObject(_ json: ByteBuffer) -> Bool {
        json.readableBytes >= 2 && json.readableBytesView.first == UInt8(ascii: "{")
            && json.readableBytesView.last == UInt8(ascii: "}")
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
