import NIOCore

/// Writes JSON straight into a `ByteBuffer`.
///
/// Outgoing frames have a fixed shape, so writing them by hand is both exact (the field order and
/// names Echo Chat's client expects) and cheap (no intermediate dictionaries on the send path).
public struct JSONWriter {
    public var buffer: ByteBuffer
    private var needsComma = false

    public init(capacity: Int = 256) {
        buffer = ByteBuffer()
        buffer.reserveCapacity(capacity)
    }

    public mutating func beginObject() {
        separate()
        buffer.writeInteger(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        buffer.writeInteger(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        buffer.writeInteger(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        buffer.writeInteger(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func key(_ name: StaticString) {
        separate()
        buffer.writeInteger(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
        needsComma = false
    }

    public mutating func string(_ value: String) {
        separate()
        Self.writeQuoted(value, into: &buffer)
        needsComma = true
    }

    public mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    public mutating func int(_ value: Int) {
        separate()
        buffer.writeString(String(value))
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        buffer.writeStaticString(value ? "true" : "false")
        needsComma = true
    }

    public mutating func null() {
        separate()
        buffer.writeStaticString("null")
        needsComma = true
    }

    /// Writes already-encoded JSON (an element of an array, for example).
    public mutating func raw(_ json: ByteBuffer) {
        separate()
        var copy = json
        buffer.writeBuffer(&copy)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { buffer.writeInteger(UInt8(ascii: ",")) }
    }

    /// A JSON string literal. `<`, `>`, `&` and the JavaScript line separators are escaped too,
    /// so a frame stays inert even if some client were to put it into HTML.
    public static func writeQuoted(_ value: String, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "\""))
        let utf8 = value.utf8
        // Fast path: most text needs no escaping and is copied in one go.
        let needsEscape = utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x3C || $0 == 0x3E || $0 == 0x26 || $0 == 0xE2 }
        if !needsEscape {
            buffer.writeString(value)
        } else {
            var index = utf8.startIndex
            while index != utf8.endIndex {
                let byte = utf8[index]
                switch byte {
                case 0x22: buffer.writeStaticString("\\\"")
                case 0x5C: buffer.writeStaticString("\\\\")
                case 0x0A: buffer.writeStaticString("\\n")
                case 0x0D: buffer.writeStaticString("\\r")
                case 0x09: buffer.writeStaticString("\\t")
                case 0x3C: buffer.writeStaticString("\\u003c")
                case 0x3E: buffer.writeStaticString("\\u003e")
                case 0x26: buffer.writeStaticString("\\u0026")
                case 0xE2:
                    // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                    let next = utf8.index(after: index)
                    if next != utf8.endIndex, utf8[next] == 0x80 {
                        let third = utf8.index(after: next)
                        if third != utf8.endIndex, utf8[third] == 0xA8 || utf8[third] == 0xA9 {
                            buffer.writeStaticString(utf8[third] == 0xA8 ? "\\u2028" : "\\u2029")
                            index = utf8.index(after: third)
                            continue
                        }
                    }
                    buffer.writeInteger(byte)
                case 0..<0x20:
                    let hex = String(byte, radix: 16)
                    buffer.writeStaticString("\\u00")
                    if hex.count == 1 { buffer.writeInteger(UInt8(ascii: "0")) }
                    buffer.writeString(hex)
                default:
                    buffer.writeInteger(byte)
                }
                index = utf8.index(after: index)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
