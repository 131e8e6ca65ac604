/// The `authorKey` a client may send in its `join`: 32 random bytes, base64url without padding
/// (43 characters), which the client keeps (Echo's web client in localStorage) and which proves it
/// wrote a message when it edits or deletes it. The server keeps only a keyed hash of it
/// (``AuthorHasher``), never the key; its description never shows it, so no log can either.
public struct AuthorKey: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    public static let byteCount = 32
    public static let textLength = 43

    /// nil unless `text` is exactly 43 base64url characters in canonical form (the unused low
    /// bits of the last character zero), so one key has one spelling.
    public init?(text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == Self.textLength else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.byteCount)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in utf8 {
            guard let value = Self.value(of: character) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard bytes.count == Self.byteCount, accumulator == 0 else { return nil }
        self.bytes = bytes
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount)
        self.bytes = bytes
    }

    public var description: String { "AuthorKey(redacted)" }

    /// The canonical text (base64url without padding): what ``init(text:)`` reads back.
    public var text: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(Self.textLength)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in bytes {
            accumulator = accumulator << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int(accumulator >> UInt32(bits) & 0x3F)])
            }
        }
        if bits > 0 { out.append(alphabet[Int(accumulator << UInt32(6 - bits) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The base64url alphabet: `A–Z a–z 0–9 - _`.
    static func value(of character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return nil
        }
    }
}

/// The `ownerKey` the server gives the member whose `create` made a room (moderation: `kick`,
/// `lock`): the same shape as an ``AuthorKey`` (32 random bytes, base64url), made by the server
/// instead of the client, and likewise kept in Redis only as a keyed hash
/// (``AuthorHasher/hash(owner:)``).
public typealias OwnerKey = AuthorKey
