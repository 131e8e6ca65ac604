import EchoShared

/// Every Redis key and channel name Echo uses, built here and nowhere else, in one of two layouts.
///
/// - ``Layout/legacy``: Echo Chat's names (extended with the info, dedupe, epoch and admission
///   keys), for one Redis node or a Sentinel-elected primary. They must not change: a running
///   deployment keeps its history and presence across an upgrade, and during a rolling reload old
///   and new workers must meet in the same keys (`RoomKeysTests` pins them).
/// - ``Layout/tagged``: for Redis Cluster, where a script may only touch keys of one hash slot and
///   a sharded channel lives on the shard of its slot. Every key of a room carries the room's hash
///   tag (`room:{r}`, `stream:{r}`, `room:{r}:members`, ...), and so does every other key a room's
///   script touches: the session (`session:{r}:<sid>`) and the chat rate limit, which becomes a
///   bucket per room and IP (`rl:{r}:<ip>`). The admission keys of one IP share the IP's tag
///   (`ipconn:{ip}`, `hs:{ip}`, `jn:{ip}`). Trade-offs: docs/architecture.md, Rooms.
///
/// `echo migrate-keys` copies a deployment from the first layout to the second.
public struct RoomKeys: Sendable, Equatable {
    public enum Layout: Sendable, Equatable, CustomStringConvertible {
        case legacy
        case tagged

        public var description: String {
            switch self {
            case .legacy: "legacy"
            case .tagged: "tagged"
            }
        }
    }

    public let layout: Layout

    public init(layout: Layout) {
        self.layout = layout
    }

    /// Tagged for a Redis Cluster; one node and Sentinel keep today's names, so an existing
    /// deployment's rolling reload never splits a room between two names.
    public static func layout(for topology: RedisTopology) -> Layout {
        topology.isCluster ? .tagged : .legacy
    }

    public static let legacy = RoomKeys(layout: .legacy)
    public static let tagged = RoomKeys(layout: .tagged)

    // MARK: Room keys (all built from ``tag(_:)``)

    /// Pub/sub channel: the room's live fan-out (a shard channel in the tagged layout).
    public func channel(_ room: String) -> String { "room:\(tag(room))" }
    /// Stream, capped: the room's history; an entry's ID is its message's position.
    public func stream(_ room: String) -> String { "stream:\(tag(room))" }
    /// Sorted set: session id → presence expiry (ms).
    public func members(_ room: String) -> String { "room:\(tag(room)):members" }
    /// Hash: session id → username.
    public func usernames(_ room: String) -> String { "room:\(tag(room)):usernames" }
    /// Exists while the room is joinable (refreshed by every join, chat and presence refresh).
    public func info(_ room: String) -> String { "room:\(tag(room)):info" }
    /// Hash: `replid`, the replication id of the Redis primary that served the room when a join
    /// last looked, and `doubtful`, the stream position up to which a change of primary (a
    /// failover, a restart) may have lost successors (``JoinScript``, docs/architecture.md,
    /// "Failover marker"). Node-local by nature: never copied by `migrate-keys`.
    public func primary(_ room: String) -> String { "room:\(tag(room)):primary" }
    /// Hash with the room's TTL: one message's reactions (``ReactScript``): `<identity>:<emoji>`
    /// for each reaction that is on (identity `a:<author hash>`, or `s:<session>` for a member
    /// without an `authorKey`), its value the session that turned it on (JSON-quoted); `e:<emoji>`
    /// how many members have it on, `n` how many distinct emoji the message has. Deleted with its
    /// message (``AmendScript``).
    public func reactions(room: String, message: StreamID) -> String { "room:\(tag(room)):react:\(message)" }
    /// Hash: the room's moderation state (``ModerationScript``), with the room's TTL: `owner` (the
    /// keyed hash of its ``OwnerKey``), `locked` (present while locked), `s:<session>` (each
    /// member's author hash, so a lock can record who was in), `a:<author hash>` (allowed into the
    /// locked room by `rejoin`), `k:<author hash>` (kicked: never allowed in while locked).
    public func moderation(_ room: String) -> String { "room:\(tag(room)):moderation" }
    /// String with TTL: the stream ID a client's `clientId` was stored under, so a retry is not
    /// stored twice.
    public func dedupe(room: String, clientID: String) -> String { "cid:\(tag(room)):\(clientID)" }
    /// String with TTL: a session's metadata (room, username, join time). Tagged with its room,
    /// whose join and leave scripts write it.
    public func session(_ session: String, room: String) -> String {
        switch layout {
        case .legacy: "session:\(session)"
        case .tagged: "session:\(tag(room)):\(session)"
        }
    }
    /// Token bucket of chat messages: per client IP in the legacy layout; per room and IP in the
    /// tagged one, so the chat script's keys stay in the room's slot.
    public func rateLimit(ip: String, room: String) -> String {
        switch layout {
        case .legacy: "rl:\(ip)"
        case .tagged: "rl:\(tag(room)):\(ip)"
        }
    }

    /// The room's part of its key names: the bare id, or its hash tag. Room ids are tokens
    /// (letters, digits, `_`, `-`: `ClientRequest.roomID`), so a tag never holds a brace.
    func tag(_ room: String) -> String {
        switch layout {
        case .legacy: room
        case .tagged: "{\(room)}"
        }
    }

    /// The room of a pub/sub channel name (``channel(_:)``'s inverse).
    public func room(ofChannel channel: String) -> String? {
        guard channel.hasPrefix("room:") else { return nil }
        let tag = channel.dropFirst(5)
        switch layout {
        case .legacy:
            return String(tag)
        case .tagged:
            guard tag.first == "{", tag.last == "}", tag.count >= 2 else { return nil }
            return String(tag.dropFirst().dropLast())
        }
    }

    /// The command a script publishes a room's event with: sharded pub/sub in a cluster, so each
    /// event reaches only the shard that owns the room's slot (and its subscribers there).
    public var publishCommand: String {
        switch layout {
        case .legacy: "PUBLISH"
        case .tagged: "SPUBLISH"
        }
    }

    // MARK: Keys outside any room's slot (each command routed by its own key)

    /// Sorted set: room id → last activity (ms). Written by its own call (``ActiveRoomsScript``),
    /// never by a room's script.
    public var activeRooms: String { "active_rooms" }
    /// A random value that lives as long as Redis keeps its data: a different one means Redis lost
    /// it (restarted empty, flushed), so no position held before can be trusted.
    public var dataEpoch: String { "echo:epoch" }
    /// The secret authorship hashes are keyed with (``AuthorHasher``): made once by the first
    /// worker that finds none, never expires (Redis losing it loses the messages it signed too).
    public var authorSecret: String { "echo:author-secret" }

    // MARK: Admission keys (docs/security.md; every one expires; one IP's keys share a slot)

    /// Hash: worker instance → `<open connections>:<expiry ms>` of one IP.
    public func connections(_ ip: String) -> String { "ipconn:\(ipTag(ip))" }
    /// Token bucket of WebSocket handshakes of one IP.
    public func handshakes(_ ip: String) -> String { "hs:\(ipTag(ip))" }
    /// Token bucket of join attempts of one IP.
    public func joins(_ ip: String) -> String { "jn:\(ipTag(ip))" }

    /// An IP's part of its admission keys (limit keys are addresses or prefixes: no braces).
    func ipTag(_ ip: String) -> String {
        switch layout {
        case .legacy: ip
        case .tagged: "{\(ip)}"
        }
    }
}
