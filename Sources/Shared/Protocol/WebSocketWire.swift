import NIOCore

/// Server-to-client WebSocket frames, encoded whole: header and payload in one buffer.
///
/// A fanned-out message is encoded once and the same buffer is written to every member; NIO's
/// frame encoder would allocate a separate header for every recipient and write twice.
public enum WebSocketWire {
    public enum Opcode: UInt8, Sendable {
        case text = 0x1
        case binary = 0x2
        case close = 0x8
        case ping = 0x9
        case pong = 0xA
    }

    /// One final, unmasked frame (servers never mask).
    public static func frame(_ opcode: Opcode, payload: ByteBuffer) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = ByteBuffer()
        frame.reserveCapacity(length + 10)
        frame.writeInteger(0x80 | opcode.rawValue)
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        var body = payload
        frame.writeBuffer(&body)
        return frame
    }

    public static func text(_ json: ByteBuffer) -> ByteBuffer {
        frame(.text, payload: json)
    }

    /// A close frame carrying `code`.
    public static func close(code: UInt16) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        return frame(.close, payload: payload)
    }
}
