/// What `echo migrate-keys` does with each key of a Redis in the legacy layout when copying it into
/// a Redis Cluster in the tagged layout (``RoomKeys``). The copy itself (DUMP, RESTORE with the
/// remaining TTL, so stream entry IDs and expiries stay) is the worker's `KeyMigrator`.
public enum KeyMigration {
    /// A class of keys, as the migration reports them.
    public enum Kind: String, Sendable, CaseIterable {
        case stream, members, usernames, info, reactions, dedupe, session
        /// A room's owner and lock (``RoomKeys/moderation(_:)``).
        case moderation
        /// `active_rooms`: copied under the same name.
        case index
        /// The authorship secret (``RoomKeys/authorSecret``), copied under the same name: without it
        /// the cluster's workers make a new one, and every message written before the move could no
        /// longer be edited or deleted by its author, nor any room be moderated by its owner.
        case secret
        /// Short-lived limits and the data epoch: not copied (see ``Plan/skip(_:)``).
        case skipped
        /// Not a key Echo writes: left alone, and reported.
        case foreign
    }

    public enum Plan: Sendable, Equatable {
        /// DUMP the key, RESTORE it under `target`.
        case copy(Kind, target: String)
        /// A session: its tagged name needs its room, which is in its value (``sessionTarget(id:value:)``).
        case session(id: String)
        /// Not copied.
        case skip(Kind)
    }

    /// The plan for one key name of the source.
    ///
    /// Not copied: the chat rate-limit buckets (per IP in the legacy layout, per room and IP in the
    /// tagged one: no bucket maps onto another, and each refills within a minute), the admission
    /// counts and buckets (each worker rewrites its counts, and the old workers are gone), and the
    /// data epoch (a cluster keeps one per shard; a new one makes workers recover conservatively,
    /// which costs nothing since every position is still in the copied streams), and each room's
    /// failover marker (``RoomKeys/primary(_:)``: it names the source's primary).
    public static func plan(forLegacyKey key: String, into keys: RoomKeys = .tagged) -> Plan {
        if key == keys.activeRooms { return .copy(.index, target: key) }
        if key == RoomKeys.legacy.authorSecret { return .copy(.secret, target: keys.authorSecret) }
        if key == keys.dataEpoch { return .skip(.skipped) }
        for prefix in ["rl:", "ipconn:", "hs:", "jn:"] where key.hasPrefix(prefix) {
            return .skip(.skipped)
        }
        if let room = suffix(of: key, after: "stream:"), isRoomID(room) {
            return .copy(.stream, target: keys.stream(room))
        }
        if let rest = suffix(of: key, after: "room:"), let colon = rest.firstIndex(of: ":") {
            let room = String(rest[..<colon])
            if isRoomID(room) {
                switch rest[rest.index(after: colon)...] {
                case "members": return .copy(.members, target: keys.members(room))
                case "usernames": return .copy(.usernames, target: keys.usernames(room))
                case "info": return .copy(.info, target: keys.info(room))
                case "moderation": return .copy(.moderation, target: keys.moderation(room))
                // Names the source's primary: the target's first join records its own.
                case "primary": return .skip(.skipped)
                case let tail where tail.hasPrefix("react:"):
                    if let message = StreamID(String(tail.dropFirst(6))) {
                        return .copy(.reactions, target: keys.reactions(room: room, message: message))
                    }
                default: break
                }
            }
        }
        if let rest = suffix(of: key, after: "cid:"), let colon = rest.firstIndex(of: ":") {
            let room = String(rest[..<colon])
            let clientID = String(rest[rest.index(after: colon)...])
            if isRoomID(room), !clientID.isEmpty {
                return .copy(.dedupe, target: keys.dedupe(room: room, clientID: clientID))
            }
        }
        if let id = suffix(of: key, after: "session:"), !id.isEmpty, !id.contains("{") {
            return .session(id: id)
        }
        return .skip(.foreign)
    }

    /// A session's tagged name, from its value (the JSON ``RoomStore/join`` writes); nil when the
    /// value names no room.
    public static func sessionTarget(id: String, value: String, into keys: RoomKeys = .tagged) -> String? {
        guard let room = roomID(inSessionJSON: value) else { return nil }
        return keys.session(id, room: room)
    }

    /// Whether `key` already carries a hash tag on one of Echo's names: the source is not in the
    /// legacy layout (it was migrated already, or is a cluster's data).
    public static func isTagged(_ key: String) -> Bool {
        guard let open = key.firstIndex(of: "{"), let close = key[open...].firstIndex(of: "}") else { return false }
        guard key.index(after: open) < close else { return false }
        return ["stream:", "room:", "cid:", "session:", "rl:", "ipconn:", "hs:", "jn:"].contains { key.hasPrefix($0) }
    }

    /// A room id as the protocol allows it (`ClientRequest.roomID`: letters, digits, `_`, `-`).
    static func isRoomID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
            default: false
            }
        }
    }

    /// `"roomId":"<id>"` in a session's JSON (written by Echo: no spaces, the id a plain token).
    static func roomID(inSessionJSON json: String) -> String? {
        let marker = #""roomId":""#
        guard let start = json.range(of: marker)?.upperBound, let end = json[start...].firstIndex(of: "\"") else { return nil }
        let id = String(json[start..<end])
        return isRoomID(id) ? id : nil
    }

    private static func suffix(of key: String, after prefix: String) -> String? {
        key.hasPrefix(prefix) ? String(key.dropFirst(prefix.count)) : nil
    }
}
