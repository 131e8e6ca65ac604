/// base64url without padding (RFC 4648 §5), in canonical form only: the unused low bits of the
/// last character must be zero, so every byte string has exactly one spelling. Keys, proofs and
/// an encrypted room's ciphertext travel in this form (docs/protocol.md).
public enum Base64URL {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0–63 for each alphabet byte, 0xFF for everything else.
    static let values: [UInt8] = (0...255).map { byte in
        alphabet.firstIndex(of: UInt8(byte)).map(UInt8.init) ?? 0xFF
    }

    /// The bytes `text` spells; nil unless it is canonical base64url without padding.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in utf8 {
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        guard accumulator == 0 else { return nil }
        return bytes
    }

    /// How many bytes `text` decodes to, checking it is canonical base64url, without decoding:
    /// an encrypted image is megabytes that the server stores and forwards untouched.
    public static func decodedCount(_ text: String) -> Int? {
        var text = text
        return text.withUTF8 { utf8 -> Int? in
            guard utf8.count % 4 != 1 else { return nil }
            return values.withUnsafeBufferPointer { values -> Int? in
                for character in utf8 where values[Int(character)] == 0xFF { return nil }
                // The last character's unused low bits must be zero (2 spare bits after 2
                // characters' 12, 4 after 3's 18... i.e. 4 or 2 bits when count % 4 is 2 or 3).
                if let last = utf8.last {
                    let spare: UInt8 = switch utf8.count % 4 { case 2: 0x0F; case 3: 0x03; default: 0 }
                    guard values[Int(last)] & spare == 0 else { return nil }
                }
                return utf8.count * 3 / 4
            }
        }
    }

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
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
        }
        if bits > 0 { out.append(alphabet[Int(accumulator << UInt32(6 - bits) & 0x3F)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
