/// The chats one connection sends: a stamped text in a plain room, or in an encrypted room a
/// stamped `ciphertext` with an `iv`, both written into a reused buffer without any JSON encoder.
///
/// An encrypted chat's ciphertext is as long on the wire as the plain run's text (`messageSize`
/// characters, rounded up to whole base64url quads), so S1 with and without encryption moves the
/// same chat bytes and differs by the `iv` field only: what is compared is the server's handling
/// of an encrypted room, not a larger payload. The server never decrypts, so the bytes after the
/// stamp only need to be base64url; they are random, like a real ciphertext.
public struct BenchChatRequest: Sendable {
    public let encrypted: Bool
    /// The text length (plain) or the ciphertext length in characters (encrypted).
    public let size: Int
    /// `{"type":"chat","payload":{"roomId":"<room>","message":"` or `...,"ciphertext":"`.
    let prefix: [UInt8]
    /// The ciphertext's bytes after the stamp (encrypted only).
    let padding: [UInt8]

    /// Characters in an `iv`: 12 bytes, base64url.
    public static let ivLength = 16
    /// The shortest ciphertext the server takes decodes to 17 bytes (a 16-byte tag and one byte).
    public static let minimumCiphertextLength = 24
    static let ivKey = Array(#"","iv":""#.utf8)
    static let suffix = Array(#""}}"#.utf8)

    public init(roomID: String, messageSize: Int, encrypted: Bool, using generator: inout some RandomNumberGenerator) {
        self.encrypted = encrypted
        if encrypted {
            size = Self.ciphertextLength(messageSize: messageSize)
            prefix = Array(#"{"type":"chat","payload":{"roomId":"\#(roomID)","ciphertext":""#.utf8)
            var padding: [UInt8] = []
            BenchBase64URL.appendRandom(count: size, to: &padding, using: &generator)
            self.padding = padding
        } else {
            size = messageSize
            prefix = Array(#"{"type":"chat","payload":{"roomId":"\#(roomID)","message":""#.utf8)
            padding = []
        }
    }

    /// `messageSize` rounded up to a multiple of 4 (so the text decodes to whole bytes), and at
    /// least ``minimumCiphertextLength``.
    public static func ciphertextLength(messageSize: Int) -> Int {
        Swift.max(minimumCiphertextLength, (messageSize + 3) / 4 * 4)
    }

    /// Replaces `bytes` with the chat carrying `stamp`; an encrypted chat draws its IV from `generator`.
    public func write(_ stamp: BenchStamp, into bytes: inout [UInt8], using generator: inout some RandomNumberGenerator) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: prefix)
        guard encrypted else {
            stamp.write(into: &bytes, size: size)
            bytes.append(contentsOf: Self.suffix)
            return
        }
        let start = bytes.count
        stamp.write(into: &bytes, size: size, encoding: .ciphertext, padding: padding)
        // A stamp longer than `size` (a tiny --message-size) still ends on a whole quad.
        let over = (bytes.count - start) % 4
        if over > 0 { bytes.append(contentsOf: padding[..<(4 - over)]) }
        bytes.append(contentsOf: Self.ivKey)
        BenchBase64URL.appendRandom(count: Self.ivLength, to: &bytes, using: &generator)
        bytes.append(contentsOf: Self.suffix)
    }
}
