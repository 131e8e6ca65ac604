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
        return Self.hex(Crypto.hmacSHA256(key: secret, message: key.bytes))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The hex ``hex(_:)`` writes, decoded; nil for anything else.
    static func bytes(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < utf8.count {
            guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
