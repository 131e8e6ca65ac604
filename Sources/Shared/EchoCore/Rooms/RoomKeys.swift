
/// Redis key names, in Echo Chat's layout (extended with the info and dedupe keys).
public enum RoomKeys {
    public static func channel(_ room: String) -> String { "room:\(room)" }
    public static func stream(_ room: String) -> String { "stream:\(room)" }
    public static func members(_ room: String) -> String { "room:\(room):members" }
    public static func usernames(_ room: String) -> String { "room:\(room):usernames" }
    /// Exists while the room is joinable (refreshed by every join, chat and presence refresh).
    public static func info(_ room: String) -> String { "room:\(room):info" }
    public static func session(_ session: String) -> String { "session:\(session)" }
    public static func clientID(room: String, clientID: String) -> String { "cid:\(room):\(clientID)" }
    public static func rateLimit(_ ip: String) -> String { "rl:\(ip)" }
    public static let activeRooms = "active_rooms"
    /// A random value that lives as long as Redis keeps its data: a different one means Redis lost
    /// it (restarted empty, flushed), so no position held before can be trusted.
    public static let dataEpoch = "echo:epoch"

    /// The room of a pub/sub channel name (`room:<id>`).
    public static func room(ofChannel channel: String) -> String? {
        channel.hasPrefix("room:") ? String(channel.dropFirst(5)) : nil
    }
}
