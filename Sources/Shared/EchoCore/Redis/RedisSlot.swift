/// Redis Cluster's hash slot of a key (CRC16/XMODEM of the key, or of its hash tag, mod 16384).
///
/// The hash tag is the part between the first `{` and the next `}` when it is not empty: keys
/// `stream:{r1}` and `room:{r1}:members` share a slot, which is what lets one script touch both.
public enum RedisSlot {
    public static let count = 16_384

    public static func of(_ key: String) -> Int {
        var bytes = Array(key.utf8)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            bytes = Array(bytes[(open + 1)..<close])
        }
        return Int(crc16(bytes) & 0x3FFF)
    }

    /// CRC-16/XMODEM (polynomial 0x1021, initial 0), as in Redis's `crc16.c`.
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}
