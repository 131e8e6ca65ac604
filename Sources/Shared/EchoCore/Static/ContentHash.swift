
/// FNV-1a, 64 bits: names a version of the assets in URLs and ETags.
///
/// This is a cache key, not a security boundary: whoever can change the files can change the
/// server too. 64 bits make an accidental collision between two deployments vanishingly unlikely,
/// and needing no crypto library keeps the dependency list as it is.
struct ContentHash {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= 0x0000_0100_0000_01b3
        }
    }

    /// Length-prefixed, so that ("ab", "c") and ("a", "bc") hash differently.
    mutating func update(field bytes: [UInt8]) {
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { update($0) }
        update(bytes)
    }

    var hex: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func of(_ bytes: [UInt8]) -> String {
        var hash = ContentHash()
        hash.update(bytes)
        return hash.hex
    }
}
