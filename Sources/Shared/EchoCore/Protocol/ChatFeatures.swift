/// The optional frames a client asked for in its `join` (`features`), as far as this server
/// implements them: the granted set, kept with the membership and answered in `session`.
///
/// Echo Chat's client draws every frame it does not know as a chat bubble, so a frame of a new
/// kind goes only to members whose join named its feature (``RoomEvent/Kind/feature``).
public struct ChatFeatures: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `{"type":"typing","sessionId","username"}` frames.
    public static let typing = ChatFeatures(rawValue: 1 << 0)
    /// `edit` and `delete` frames, edit/delete entries in history, deleted messages as
    /// `{"type":"chat","messageId","deleted":true}`; without it history shows the edited text and
    /// hides deleted messages.
    public static let edit = ChatFeatures(rawValue: 1 << 1)
    /// `react` frames, react entries in history, and each message's `reactions` in history;
    /// without it a member sees no reaction data at all.
    public static let react = ChatFeatures(rawValue: 1 << 2)
    /// The room owner's tools: `ownerKey` and `locked` in `session`, `lock` frames, and the
    /// `kick` System frame (members without it see the kicked member's ordinary `leave`).
    public static let moderation = ChatFeatures(rawValue: 1 << 3)

    /// Every feature this server grants, with its name on the wire: the one list. A name not in
    /// it is ignored (a newer client asking a server that does not have the feature yet).
    public static let implemented: [(name: String, feature: ChatFeatures)] = [
        ("typing", .typing),
        ("edit", .edit),
        ("react", .react),
        ("moderation", .moderation),
    ]

    /// The most names a join may list, and the longest name.
    public static let maxNames = 8
    public static let maxNameLength = 32

    /// The granted subset of `names` (unknown names ignored).
    public init(names: [String]) {
        self = []
        for name in names {
            if let known = Self.implemented.first(where: { $0.name == name }) { insert(known.feature) }
        }
    }

    /// The granted features' names, in ``implemented``'s order (for the `session` frame).
    public var names: [String] {
        Self.implemented.filter { contains($0.feature) }.map(\.name)
    }
}
