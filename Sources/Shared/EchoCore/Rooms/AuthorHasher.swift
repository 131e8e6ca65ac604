import EchoTLS
import Synchronization

/// Turns a client's ``AuthorKey`` into what the room stores with each message it writes:
/// HMAC-SHA-256 under a server secret, hex. The secret is one random value kept in Redis
/// (``RoomKeys/authorSecret``), the same for every worker and host and across restarts; a worker
/// reads it at start and at every presence refresh (``RoomStore/authorSecret(candidate:)``).
/// Keyed, so a stored hash cannot be checked against guessed keys without the secret.
///
/// Shared by every connection of a hub (through ``ChatConnectionStateMachine/Configuration``).
public final class AuthorHasher: Sendable {
    private let secret: Mutex<[UInt8]?>

    public init(secret: [UInt8]? = nil) {
        self.secret = Mutex(secret)
    }

    public func set(secret: [UInt8]) {
        self.secret.withLock { $0 = secret }
    }

    /// The secret as last read (nil before the first read succeeded).
    public var current: [UInt8]? { secret.withLock { $0 } }

    /// nil while the secret is not read yet: the messages of a join made then have no author, and
    /// cannot be edited or deleted.
    public func hash(_ key: AuthorKey) -> String? {
        guard let secret = current else { return nil }
        return Hex.encode(Crypto.hmacSHA256(key: secret, message: key.bytes))
    }

    /// The keyed hash of a room's ``OwnerKey``, as the room keeps it (``RoomKeys/moderation(_:)``).
    /// The message is prefixed, so an owner key never hashes to anyone's author hash.
    public func hash(owner key: OwnerKey) -> String? {
        guard let secret = current else { return nil }
        return Hex.encode(Crypto.hmacSHA256(key: secret, message: Self.ownerLabel + key.bytes))
    }

    private static let ownerLabel = Array("owner:".utf8)
}
