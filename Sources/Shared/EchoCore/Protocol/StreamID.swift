
/// A Redis Stream entry ID (`<milliseconds>-<sequence>`): a chat message's position in its room.
/// IDs of one stream only grow, so comparing them orders messages.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `1700000000000-3` (or `1700000000000`, sequence 0). `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        var text = String(text)
        guard let id = text.withUTF8({ StreamID(utf8: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = id
    }

    /// Parses the UTF-8 bytes of an ID in one pass, without building a `String` (the fan-out path
    /// reads one per published message). Not generic on purpose: called from the worker, a generic
    /// version ran unspecialized and looked up type metadata on every call.
    public init?(utf8 bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, bytes.count <= 41 else { return nil }
        var milliseconds: UInt64 = 0
        var sequence: UInt64 = 0
        var digits = 0
        var inSequence = false
        for byte in bytes {
            if byte == UInt8(ascii: "-") {
                // One dash, between two non-empty numbers.
                guard !inSequence, digits > 0 else { return nil }
                inSequence = true
                digits = 0
                continue
            }
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let digit = UInt64(byte - 0x30)
            if inSequence {
                guard let next = Self.appending(digit, to: sequence) else { return nil }
                sequence = next
            } else {
                guard let next = Self.appending(digit, to: milliseconds) else { return nil }
                milliseconds = next
            }
            digits += 1
        }
        guard digits > 0 else { return nil }
        self.init(milliseconds: milliseconds, sequence: sequence)
    }

    private static func appending(_ digit: UInt64, to value: UInt64) -> UInt64? {
        let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(digit)
        return overflow1 || overflow2 ? nil : sum
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
