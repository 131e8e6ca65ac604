import EchoCore
import Foundation

/// The client side of Echo's wire as echo-bench speaks it: the HTTP upgrade and WebSocket frames,
/// read and written by hand in the connection's one handler.
///
/// NIO's HTTP client upgrader puts six handlers in every pipeline and removes them again, and its
/// frame codec wraps every frame in `NIOAny`; both cost the generator as much CPU per join (S4) and
/// a large share per delivery (S2) as the server spent. The generator shares the cores with the
/// server, so that CPU was taken from the thing measured. Echo never fragments or masks what it
/// sends, so reading its frames needs only the header.
public enum BenchWire {
    // MARK: Upgrade

    /// A `Sec-WebSocket-Key`: 16 random bytes, base64 (RFC 6455 §4.1).
    public static func upgradeKey(_ high: UInt64, _ low: UInt64) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        for word in [high, low] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Data(bytes).base64EncodedString()
    }

    public static func upgradeRequest(host: String, path: String, key: String) -> [UInt8] {
        Array((
            "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).utf8)
    }

    public enum UpgradeResponse: Equatable, Sendable {
        /// The response head has not fully arrived.
        case incomplete
        /// `101` with the right `Sec-WebSocket-Accept`; frames start after `headerLength` bytes.
        case accepted(headerLength: Int)
        /// Anything else, with the reason (the status line, or what was wrong).
        case refused(String)
    }

    /// A response head longer than this is not an upgrade answer.
    static let maxResponseHead = 8192
    static let headEnd = Array("\r\n\r\n".utf8)

    /// Reads the server's answer to the upgrade request sent with `key` from the start of `bytes`.
    public static func upgradeResponse(_ bytes: UnsafeRawBufferPointer, key: String) -> UpgradeResponse {
        guard let end = BenchBytes.firstIndex(of: headEnd, in: bytes) else {
            return bytes.count > maxResponseHead ? .refused("response head too long") : .incomplete
        }
        let head = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<end]), as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.first.map(String.init) ?? ""
        let status = statusLine.split(separator: " ", maxSplits: 2)
        guard status.count >= 2, status[0].hasPrefix("HTTP/1."), status[1] == "101" else {
            return .refused(String(statusLine.prefix(80)))
        }
        let expected = WebSocketHandshake.acceptValue(forKey: key)
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"),
                  line[..<colon].lowercased() == "sec-websocket-accept" else { continue }
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            return value == expected ? .accepted(headerLength: end + headEnd.count) : .refused("wrong Sec-WebSocket-Accept")
        }
        return .refused("no Sec-WebSocket-Accept")
    }

    // MARK: Frames

    public enum FrameHeader: Equatable, Sendable {
        /// Fewer bytes than the header, or than header and payload, have arrived.
        case incomplete
        /// A whole frame: its payload is `payloadLength` bytes after `headerLength` bytes.
        case frame(opcode: UInt8, headerLength: Int, payloadLength: Int)
        /// Not a frame Echo sends: the connection cannot be read any further.
        case invalid(String)
    }

    public static let opcodeText: UInt8 = 0x1
    public static let opcodeClose: UInt8 = 0x8
    public static let opcodePing: UInt8 = 0x9
    public static let opcodePong: UInt8 = 0xA

    /// The frame at the start of `bytes`, once all of it has arrived.
    public static func frameHeader(_ bytes: UnsafeRawBufferPointer, maxPayload: Int) -> FrameHeader {
        guard bytes.count >= 2 else { return .incomplete }
        let first = bytes[0]
        let second = bytes[1]
        guard first & 0x70 == 0 else { return .invalid("reserved bits set") }
        // Echo writes every message as one final frame; a fragment means something else is talking.
        guard first & 0x80 != 0, first & 0x0F != 0 else { return .invalid("fragmented frame") }
        guard second & 0x80 == 0 else { return .invalid("masked server frame") }
        var headerLength = 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard bytes.count >= 4 else { return .incomplete }
            length = Int(bytes[2]) << 8 | Int(bytes[3])
            headerLength = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return .incomplete }
            var value: UInt64 = 0
            for index in 2..<10 { value = value << 8 | UInt64(bytes[index]) }
            guard value <= UInt64(maxPayload) else { return .invalid("frame of \(value) bytes") }
            length = Int(value)
            headerLength = 10
        }
        guard length <= maxPayload else { return .invalid("frame of \(length) bytes") }
        guard bytes.count >= headerLength + length else { return .incomplete }
        return .frame(opcode: first & 0x0F, headerLength: headerLength, payloadLength: length)
    }

    /// Appends one final client frame around `payload`, masked with `maskKey` (clients must mask,
    /// RFC 6455 §5.3).
    public static func appendMaskedFrame(opcode: UInt8, payload: UnsafeRawBufferPointer, maskKey: UInt32, to frame: inout [UInt8]) {
        frame.append(0x80 | opcode)
        let length = payload.count
        if length < 126 {
            frame.append(0x80 | UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.append(0x80 | 126)
            frame.append(UInt8(truncatingIfNeeded: length >> 8))
            frame.append(UInt8(truncatingIfNeeded: length))
        } else {
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8(truncatingIfNeeded: length >> shift)) }
        }
        // The key goes out most significant byte first and masks payload byte i with key byte i % 4.
        @inline(__always) func keyByte(_ index: Int) -> UInt8 {
            UInt8(truncatingIfNeeded: maskKey >> UInt32(24 - 8 * (index & 3)))
        }
        for index in 0..<4 { frame.append(keyByte(index)) }
        for index in 0..<length { frame.append(payload[index] ^ keyByte(index)) }
    }
}
