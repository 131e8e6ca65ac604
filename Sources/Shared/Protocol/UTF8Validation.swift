/// Checks that bytes are valid UTF-8 (no overlong forms, no surrogates, nothing truncated)
/// without building a `String`: every inbound text frame passes through here.
public enum UTF8Validation {
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Most chat traffic is ASCII: one pass over the bytes settles it.
        if !bytes.contains(where: { $0 >= 0x80 }) { return true }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}
