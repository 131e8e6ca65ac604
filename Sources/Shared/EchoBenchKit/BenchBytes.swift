#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte searches used on every received frame: `memchr` for the needle's first byte (vectorised
/// in the C library), then `memcmp`. A frame is a few hundred bytes, so this keeps the generator's
/// per-delivery cost small. (`memmem` would do it in one call but Glibc's module does not export it.)
public enum BenchBytes {
    public static func firstIndex(of needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Int? {
        guard let base = haystack.baseAddress, !needle.isEmpty, haystack.count >= needle.count else { return nil }
        return needle.withUnsafeBytes { needleBytes -> Int? in
            let needleBase = needleBytes.baseAddress!
            let first = Int32(needle[0])
            let lastStart = haystack.count - needle.count
            var offset = 0
            while offset <= lastStart {
                guard let found = memchr(base + offset, first, lastStart - offset + 1) else { return nil }
                let index = base.distance(to: UnsafeRawPointer(found))
                if memcmp(found, needleBase, needle.count) == 0 { return index }
                offset = index + 1
            }
            return nil
        }
    }

    public static func contains(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Bool {
        firstIndex(of: needle, in: haystack) != nil
    }

    /// Whether `haystack` holds `needle` at `index` (one `memcmp`).
    public static func matches(_ needle: [UInt8], at index: Int, in haystack: UnsafeRawBufferPointer) -> Bool {
        guard let base = haystack.baseAddress, index >= 0, index + needle.count <= haystack.count else { return false }
        return needle.withUnsafeBytes { memcmp(base + index, $0.baseAddress!, needle.count) == 0 }
    }
}
