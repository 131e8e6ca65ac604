
/// What echo-bench writes at the start of every chat text it sends, so that a receiver can tell
/// who sent it, in which order and when, without parsing JSON.
///
/// Text layout: `~b~<sender>~<seq>~<phase>~<sentAt>~` followed by `x` padding up to the requested
/// message size. `~` is never produced by the server's own fields (usernames, room ids, stream ids
/// and session ids cannot contain it) and JSON does not escape it, so the marker found in a frame is
/// always ours and the bytes are the ones we sent.
///
/// In an end-to-end encrypted room (``Encoding/ciphertext``) the stamp is the start of the chat's
/// `ciphertext`, which must be base64url: `_b_<sender>_<seq>_<phase>_<sentAt>_` and random base64url
/// padding. `_` is a base64url character any server field may hold, so a receiver looks for the
/// marker right after the `"ciphertext":"` key, where only our stamp can be.
public struct BenchStamp: Sendable, Equatable {
    /// The sender's index inside its room (0 ..< members).
    public var sender: Int
    /// The sender's sequence number, starting at 0, one per message, across warm-up and measurement.
    public var sequence: Int
    /// `true` for messages sent inside the measurement window; warm-up messages only keep the
    /// sequence trackers honest.
    public var measured: Bool
    /// Monotonic clock reading (nanoseconds) taken just before the frame was written.
    public var sentAtNanoseconds: UInt64

    public init(sender: Int, sequence: Int, measured: Bool, sentAtNanoseconds: UInt64) {
        self.sender = sender
        self.sequence = sequence
        self.measured = measured
        self.sentAtNanoseconds = sentAtNanoseconds
    }

    /// Where a stamp lives in the chats of a run.
    public enum Encoding: Sendable, Equatable {
        /// The start of a plain room's chat `message` (and of the `text` it comes back in).
        case text
        /// The start of an encrypted room's chat `ciphertext`.
        case ciphertext

        // Made once: they are read for every received frame.
        private static let textMarker = Array("~b~".utf8)
        private static let ciphertextMarker = Array("_b_".utf8)
        private static let ciphertextKey = Array("\"ciphertext\":\"".utf8)

        /// What ``BenchStamp/write(into:size:encoding:padding:)`` writes first.
        var marker: [UInt8] {
            switch self {
            case .text: Self.textMarker
            case .ciphertext: Self.ciphertextMarker
            }
        }

        /// What must come right before the marker for it to be a stamp (empty: nothing). The search
        /// runs on the marker, whose `_` is rare in a frame, and checks the anchor once per hit:
        /// searching for the anchor itself would stop at every `"` of the frame.
        var anchor: [UInt8] {
            switch self {
            case .text: []
            case .ciphertext: Self.ciphertextKey
            }
        }

        var separator: UInt8 {
            switch self {
            case .text: UInt8(ascii: "~")
            case .ciphertext: UInt8(ascii: "_")
            }
        }
    }

    static let padding = UInt8(ascii: "x")

    /// Appends the stamp and its padding to `bytes` so the text is at least `size` bytes long.
    /// A ``Encoding/ciphertext`` stamp is padded with `padding` (base64url characters, repeated as
    /// needed) instead of `x`.
    public func write(into bytes: inout [UInt8], size: Int, encoding: Encoding = .text, padding: [UInt8] = []) {
        let start = bytes.count
        let separator = encoding.separator
        bytes.append(contentsOf: encoding.marker)
        Self.appendDecimal(UInt64(sender), to: &bytes)
        bytes.append(separator)
        Self.appendDecimal(UInt64(sequence), to: &bytes)
        bytes.append(separator)
        bytes.append(measured ? UInt8(ascii: "m") : UInt8(ascii: "w"))
        bytes.append(separator)
        Self.appendDecimal(sentAtNanoseconds, to: &bytes)
        bytes.append(separator)
        var missing = size - (bytes.count - start)
        guard missing > 0 else { return }
        if encoding == .text || padding.isEmpty {
            bytes.append(contentsOf: repeatElement(Self.padding, count: missing))
            return
        }
        while missing > 0 {
            let chunk = Swift.min(missing, padding.count)
            bytes.append(contentsOf: padding[..<chunk])
            missing -= chunk
        }
    }

    /// Finds the first stamp in `bytes` (a whole frame). Returns `nil` when there is none or it is
    /// malformed. Runs once per delivered frame, so it is a plain byte scan.
    public static func find(in bytes: UnsafeRawBufferPointer, encoding: Encoding = .text) -> BenchStamp? {
        let separator = encoding.separator
        guard var index = start(in: bytes, encoding: encoding) else { return nil }
        guard let sender = readDecimal(bytes, &index, until: separator), sender <= UInt64(Int.max),
            let sequence = readDecimal(bytes, &index, until: separator), sequence <= UInt64(Int.max),
            index + 1 < bytes.count
        else { return nil }
        let phase = bytes[index]
        guard phase == UInt8(ascii: "m") || phase == UInt8(ascii: "w"), bytes[index + 1] == separator else { return nil }
        index += 2
        guard let sentAt = readDecimal(bytes, &index, until: separator) else { return nil }
        return BenchStamp(sender: Int(sender), sequence: Int(sequence), measured: phase == UInt8(ascii: "m"), sentAtNanoseconds: sentAt)
    }

    /// The index just after the first marker in `bytes` that follows its anchor.
    private static func start(in bytes: UnsafeRawBufferPointer, encoding: Encoding) -> Int? {
        let marker = encoding.marker
        let anchor = encoding.anchor
        var offset = 0
        while offset < bytes.count, let found = BenchBytes.firstIndex(of: marker, in: UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
            let index = offset + found
            if anchor.isEmpty || BenchBytes.matches(anchor, at: index - anchor.count, in: bytes) { return index + marker.count }
            offset = index + 1
        }
        return nil
    }

    /// Reads digits up to the next `separator` and steps past it.
    private static func readDecimal(_ bytes: UnsafeRawBufferPointer, _ index: inout Int, until separator: UInt8) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == separator { return digits > 0 ? value : nil }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 19 else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return nil
    }

    private static func appendDecimal(_ value: UInt64, to bytes: inout [UInt8]) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
            divisor /= 10
        }
    }
}
