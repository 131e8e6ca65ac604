/// base64url without padding (RFC 4648 §5), as Echo's encrypted rooms spell keys, proofs, IVs and
/// ciphertexts.
public enum BenchBase64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var accumulator: UInt32 = 0
        var bits = 0
        for byte in bytes {
            accumulator = accumulator << 8 | UInt32(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[Int(accumulator >> UInt32(bits) & 0x3F)])
            }
            accumulator &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 { out.append(alphabet[Int(accumulator << UInt32(6 - bits) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `count` random base64url characters: the text of `count * 6` random bits. A length
    /// that is a multiple of 4 decodes to whole bytes whatever the characters, so no unused bits
    /// can make it non-canonical.
    public static func appendRandom(count: Int, to bytes: inout [UInt8], using generator: inout some RandomNumberGenerator) {
        var remaining = count
        while remaining > 0 {
            // Ten characters from each 64-bit draw.
            var word = generator.next()
            for _ in 0..<Swift.min(10, remaining) {
                bytes.append(alphabet[Int(word & 0x3F)])
                word >>= 6
            }
            remaining -= Swift.min(10, remaining)
        }
    }
}
