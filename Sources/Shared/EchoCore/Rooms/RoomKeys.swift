/// Every Redis key and channel name Echo uses, built here and nowhere else.
///
/// The names are Echo Chat's layout (extended with the info, dedupe, epoch and admission keys) and
/// must not change: a running deployment keeps its history and presence across an upgrade
/// (`RoomKeysTests` pins them).
///
/// Redis Cluster: a script may only touch keys of one hash slot, so every key of a room must carry
/// the room's hash tag (`{<id>}`). ``tag(_:)`` is where that decision lives; today it returns the
/// bare id, which keeps the single-Redis names. Keys a room script touches that are not room keys
/// (``session(_:)``, ``rateLimit(_:)``, ``activeRooms``) would need the room's tag too, or a script
/// of their own, before Cluster: see docs/architecture.md.
public enum RoomKeys {
    // MARK: Room keys (all built from ``tag(_:)``)

    /// Pub/sub channel: the room's live fan-out.
    public static func channel(_ room: String) -> String { "room:\(tag(room))" }
    /// Stream, capped: the room's history; an entry's ID is its message's position.
    public static func stream(_ room: String) -> String { "stream:\(tag(room))" }
    /// Sorted set: session id → presence expiry (ms).
    public static func members(_ room: String) -> String { "room:\(tag(room)):members" }
    /// Hash: session id → username.
    public static func usernames(_ room: String) -> String { "room:\(tag(room)):usernames" }
    /// Exists while the room is joinable (refreshed by every join, chat and presence refresh).
    public static func info(_ room: String) -> String { "room:\(tag(room)):info" }
    /// String with TTL: the stream ID a client's `clientId` was stored under, so a retry is not
    /// stored twice.
    public static func dedupe(room: String, clientID: String) -> String { "cid:\(tag(room)):\(clientID)" }

    /// The room's part of its key names: the one place to decide on a Redis Cluster hash tag.
    /// Returning `"{\(room)}"` would put all of a room's keys in one slot (and rename them).
    static func tag(_ room: String) -> String { room }
    /// ``tag(_:)``'s inverse.
    static func room(ofTag tag: Substring) -> String { String(tag) }

    /// The room of a pub/sub channel name (``channel(_:)``'s inverse).
    public static func room(ofChannel channel: String) -> String? {
        channel.hasPrefix("room:") ? room(ofTag: channel.dropFirst(5)) : nil
    }

    // MARK: Keys of other owners

    /// String with TTL: a session's metadata (room, username, join time).
    public static func session(_ session: String) -> String { "session:\(session)" }
    /// Token bucket of chat messages per client IP.
    public static func rateLimit(_ ip: String) -> String { "rl:\(ip)" }
    /// Sorted set: room id → last activity (ms).
    public static let activeRooms = "active_rooms"
    /// A random value that lives as long as Redis keeps its data: a different one means Redis lost
    /// it (restarted empty, flushed), so no position held before can be trusted.
    public static let dataEpoch = "echo:epoch"

    // MARK: Admission keys (docs/security.md; every one expires)

    /// Hash: worker instance → `<open connections>:<expiry ms>` of one IP.
    public static func connections(_ ip: String) -> String { "ipconn:\(ip)" }
    /// Token bucket of WebSocket handshakes of one IP.
    public static func handshakes(_ ip: String) -> String { "hs:\(ip)" }
    /// Token bucket of join attempts of one IP.
    public static func joins(_ ip: String) -> String { "jn:\(ip)" }
}
