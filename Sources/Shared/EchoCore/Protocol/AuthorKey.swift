/// The `authorKey` a client may send in its `join`: 32 random bytes, base64url without padding
/// (43 characters), which the client keeps (Echo's web client in localStorage) and which proves it
/// wrote a message when it edits or deletes it. The server keeps only a keyed hash of it
/// (``AuthorHasher``), never the key; its description never shows it, so no log can either.
public struct AuthorKey: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    public static let byteCount = 32
    public static let textLength = 43

    /// nil unless `text` is exactly 43 base64url characters in canonical form (``Base64URL``), so
    /// one key has one spelling.
    public init?(text: String) {
        guard text.utf8.count == Self.textLength, let bytes = Base64URL.decode(text), bytes.count == Self.byteCount else { return nil }
        self.bytes = bytes
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    public var description: String { "AuthorKey(redacted)" }

    /// The canonical text (base64url without padding): what ``init(text:)`` reads back.
    public var text: String { Base64URL.encode(bytes) }
}

/// The `ownerKey` the server gives the member whose `create` made a room (moderation: `kick`,
/// `lock`): the same shape as an ``AuthorKey`` (32 random bytes, base64url), made by the server
/// instead of the client, and likewise kept in Redis only as a keyed hash
/// (``AuthorHasher/hash(owner:)``).
public typealias OwnerKey = AuthorKey
