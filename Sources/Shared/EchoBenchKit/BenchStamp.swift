
/// What echo-bench writes at the start of every chat text it sends, so that a receiver can tell
/// who sent it, in which order and when, without parsing JSON.
///
/// Text layout: `~b~<sender>~<seq>~<phase>~<sentAt>~` followed by `x` padding up to the requested
/// message size. `~` is never produced by the server's own fields (usernames, room ids, stream ids
/// and session ids cannot contain it) and JSON does not escape it, so the marker found in a frame is
/// always ours and the bytes are the ones we sent.
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

    static let marker: [UInt8] = Array("~b~".utf8)
    static let tilde = UInt8(ascii: "~")
    static let padding = UInt8(ascii: "x")

    /// Appends the stamp and its padding to `bytes` so the text is at least `size` bytes long.
    public func write(into bytes: inout [UInt8], size: Int) {
        let start = bytes.count
        bytes.append(contentsOf: Self.marker)
        Self.appendDecimal(UInt64(sender), to: &bytes)
        bytes.append(Self.tilde)
        Self.appendDecimal(UInt64(sequence), to: &bytes)
        bytes.append(Self.tilde)
        bytes.append(measured ? UInt8(ascii: "m") : UInt8(ascii: "w"))
        bytes.append(Self.tilde)
        Self.appendDecimal(sentAtNanoseconds, to: &bytes)
        bytes.append(Self.tilde)
        let written = bytes.count - start
        if written < size {
            bytes.append(contentsOf: repeatElement(Self.padding, count: size - written))
        }
    }

    /// Finds the first stamp in `bytes` (a whole frame). Returns `nil` when there is none or it is
    /// malformed. Runs once per delivered frame, so it is a plain byte scan.
    public static func find(in bytes: UnsafeRawBufferPointer) -> BenchStamp? {
        guard let start = BenchBytes.firstIndex(of: marker, in: bytes) else { return nil }
        var index = start + marker.count
        guard let sender = readDecimal(bytes, &index), sender <= UInt64(Int.max),
            let sequence = readDecimal(bytes, &index), sequence <= UInt64(Int.max),
            index + 1 < bytes.count
        else { return nil }
        let phase = bytes[index]
        guard phase == UInt8(ascii: "m") || phase == UInt8(ascii: "w"), bytes[index + 1] == tilde else { return nil }
        index += 2
        guard let sentAt = readDecimal(bytes, &index) else { return nil }
        return BenchStamp(sender: Int(sender), sequence: Int(sequence), measured: phase == UInt8(ascii: "m"), sentAtNanoseconds: sentAt)
    }

    /// Reads digits up to the next `~` and steps past it.
    private static func readDecimal(_ bytes: UnsafeRawBufferPointer, _ index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == tilde { return digits > 0 ? value : nil }
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
