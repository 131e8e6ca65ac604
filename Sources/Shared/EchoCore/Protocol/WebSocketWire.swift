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

    /// The largest header a server frame can need (2 bytes + 8-byte length).
    static let maxHeader = 10

    /// One final, unmasked frame (servers never mask) around `payload`.
    public static func frame(_ opcode: Opcode, payload: ByteBuffer) -> ByteBuffer {
        frame(opcode, capacity: payload.readableBytes) { $0.writeImmutableBuffer(payload) }
    }

    /// A frame whose payload `write` puts straight into the frame's buffer: room for the longest
    /// header is kept in front, and the header is filled in once the length is known. The payload
    /// is written once, never copied behind a header afterwards.
    public static func frame(_ opcode: Opcode, capacity: Int, _ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var frame = ByteBuffer()
        frame.reserveCapacity(capacity + maxHeader)
        frame.writeRepeatingByte(0, count: maxHeader)
        write(&frame)
        let length = frame.writerIndex - maxHeader
        let headerSize = length < 126 ? 2 : (length <= Int(UInt16.max) ? 4 : 10)
        let start = maxHeader - headerSize
        frame.setInteger(0x80 | opcode.rawValue, at: start)
        switch headerSize {
        case 2:
            frame.setInteger(UInt8(length), at: start + 1)
        case 4:
            frame.setInteger(UInt8(126), at: start + 1)
            frame.setInteger(UInt16(length), at: start + 2)
        default:
            frame.setInteger(UInt8(127), at: start + 1)
            frame.setInteger(UInt64(length), at: start + 2)
        }
        frame.moveReaderIndex(to: start)
        return frame
    }

    public static func text(_ json: ByteBuffer) -> ByteBuffer {
        frame(.text, payload: json)
    }

    /// A close frame carrying `code` and `reason` (UTF-8, at most 123 bytes: a control frame's
    /// payload is at most 125).
    public static func close(code: UInt16, reason: String = "") -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        payload.writeString(reason)
        return frame(.close, payload: payload)
    }

    /// Unmasks a client frame's payload in place: `key` holds the four masking bytes in wire
    /// order. Eight bytes at a time: NIO's byte-at-a-time unmask was the largest cost of a
    /// 4 MiB frame on the event loop (ahead of JSON and the image check).
    public static func unmask(_ data: inout ByteBuffer, key: (UInt8, UInt8, UInt8, UInt8)) {
        let key32 = UInt32(key.0) | UInt32(key.1) << 8 | UInt32(key.2) << 16 | UInt32(key.3) << 24
        let key64 = UInt64(key32) | UInt64(key32) << 32
        data.withUnsafeMutableReadableBytes { bytes in
            let count = bytes.count
            var index = 0
            // The key repeats every 4 bytes and 8 is a multiple of 4: bytes are in memory order,
            // so on a little-endian machine the wire-order key is the low byte first.
            while index + 8 <= count {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                bytes.storeBytes(of: (word ^ key64.littleEndian), toByteOffset: index, as: UInt64.self)
                index += 8
            }
            let tail = [key.0, key.1, key.2, key.3]
            while index < count {
                bytes[index] ^= tail[index & 3]
                index += 1
            }
        }
    }
}
