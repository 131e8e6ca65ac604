import EchoCore

/// The chats one connection sends: a stamped text in a plain room, or in an encrypted room a
/// stamped `ciphertext` with an `iv`, both written into a reused buffer without any JSON encoder.
///
/// An encrypted chat's ciphertext is as long on the wire as the plain run's text (`messageSize`
/// characters, rounded up to whole base64url quads): the request grows by its `iv`, and the frame
/// members receive is as long as a plain one within a few bytes (`ciphertext`, `iv` where a plain
/// frame has `text`, `image`, `replyTo`). What S1 compares is the server's handling of an
/// encrypted room, not a larger payload. The server never decrypts, so the bytes after the
/// stamp only need to be base64url; they are random, like a real ciphertext.
public struct BenchChatRequest: Sendable {
    public let encrypted: Bool
    /// The text length (plain) or the ciphertext length in characters (encrypted).
    public let size: Int
    /// `{"type":"chat","payload":{"roomId":"<room>","message":"` or `...,"ciphertext":"`.
    let prefix: [UInt8]
    /// The ciphertext's bytes after the stamp (encrypted only).
    let padding: [UInt8]

    /// Characters in an `iv`: 12 bytes, base64url (16).
    public static let ivLength = RoomEncryption.ivByteCount * 4 / 3
    /// The shortest ciphertext the server takes decodes to a tag and one byte: whole quads of 3
    /// bytes each (24 characters).
    public static let minimumCiphertextLength = (RoomEncryption.tagByteCount + 1 + 2) / 3 * 4
    static let ivKey = Array(#"","iv":""#.utf8)
    static let suffix = Array(#""}}"#.utf8)

    public init(roomID: String, messageSize: Int, encrypted: Bool, using generator: inout some RandomNumberGenerator) {
        self.encrypted = encrypted
        if encrypted {
            size = Self.ciphertextLength(messageSize: messageSize)
            prefix = Array(#"{"type":"chat","payload":{"roomId":"\#(roomID)","ciphertext":""#.utf8)
            var padding: [UInt8] = []
            Self.appendRandomBase64URL(count: size, to: &padding, using: &generator)
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
        Self.appendRandomBase64URL(count: Self.ivLength, to: &bytes, using: &generator)
        bytes.append(contentsOf: Self.suffix)
    }

    static let base64URLAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Appends `count` random base64url characters: the text of `count * 6` random bits. A length
    /// that is a multiple of 4 decodes to whole bytes whatever the characters, so no unused bits
    /// can make it non-canonical (the server takes only canonical base64url).
    static func appendRandomBase64URL(count: Int, to bytes: inout [UInt8], using generator: inout some RandomNumberGenerator) {
        var remaining = count
        while remaining > 0 {
            // Ten characters from each 64-bit draw.
            var word = generator.next()
            for _ in 0..<Swift.min(10, remaining) {
                bytes.append(base64URLAlphabet[Int(word & 0x3F)])
                word >>= 6
            }
            remaining -= Swift.min(10, remaining)
        }
    }
}
