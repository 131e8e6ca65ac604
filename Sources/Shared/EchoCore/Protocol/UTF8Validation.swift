
/// Checks that bytes are valid UTF-8 (no overlong forms, no surrogates, nothing truncated)
/// without building a `String`: every inbound text frame passes through here.
public enum UTF8Validation {
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Most chat traffic, and all of an image's base64, is ASCII: skip it eight bytes at a time
        // and decode only from the first byte that is not.
        let start = asciiPrefixLength(bytes)
        if start == bytes.count { return true }
        var iterator = UnsafeRawBufferPointer(rebasing: bytes[start...]).makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    /// How many bytes at the start are ASCII.
    static func asciiPrefixLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { break }
            index += 8
        }
        while index < count, bytes[index] < 0x80 { index += 1 }
        return index
    }
}
