import NIOCore

/// Something that happened in a room, as it travels through Redis: published on the room's
/// channel (live fan-out) and, for the kinds a room keeps, stored in its stream (history).
///
/// Events carry their JSON as bytes (what Swift or the Lua script wrote), never parsed on the way
/// out: the renderer (`ServerFrames.write(_:into:)`) splices them into the client's frame once per
/// message, and the same frame goes to every member.
///
/// To add a kind (typing, edit, delete, reaction): a case here, with its ``Kind`` and the two
/// switches below; its frame in the renderer; its request rule. docs/room-events.md lists the path.
/// The wire format (`RoomEvent+Wire.swift`) is the same for every kind and needs no change.
public enum RoomEvent: Sendable, Equatable {
    /// A chat message: its position in the room's stream, and its stored body (a JSON object
    /// without the id, which Redis assigns: `ServerFrames.chatBody`).
    case chat(Position, body: ByteBuffer)
    /// A member joined or left: the whole JSON object clients receive, `usersCount` included
    /// (`ServerFrames.systemEventPrefix` plus the count the script appends). Not stored.
    case system(ByteBuffer)

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
        case .chat(let position, _): return position
        case .system: return nil
        }
    }

    /// ``position``'s ID. A member skips an event at or below the position it has
    /// (``ResumePlan/isNew(_:after:)``).
    public var id: StreamID? { position?.id }

    /// The JSON bytes the event carries (for sizing the rendered frame).
    public var body: ByteBuffer {
        switch self {
        case .chat(_, let body): return body
        case .system(let json): return json
        }
    }

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
}
