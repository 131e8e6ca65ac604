@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct UnmaskTests {
    @Test(arguments: [0, 1, 3, 7, 8, 9, 15, 16, 17, 1000, 4097])
    func matchesTheByteByByteDefinition(length: Int) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key: (UInt8, UInt8, UInt8, UInt8) = (0x12, 0xA4, 0x00, 0xFF)
        let keyBytes = [key.0, key.1, key.2, key.3]
        var buffer = ByteBuffer()
        buffer.writeBytes([9, 9, 9])  // a payload that does not start at offset 0
        buffer.moveReaderIndex(forwardBy: 3)
        buffer.writeBytes(bytes)
        WebSocketWire.unmask(&buffer, key: key)
        #expect(buffer.readableBytesView.elementsEqual(bytes.enumerated().map { $1 ^ keyBytes[$0 % 4] }))
    }
}

@Suite struct WebSocketWireTests {
    @Test(arguments: [(0, [0x81, 0x00]), (125, [0x81, 0x7D]), (126, [0x81, 0x7E, 0x00, 0x7E]),
                      (65535, [0x81, 0x7E, 0xFF, 0xFF]), (65536, [0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])])
    func textHeadersUseTheShortestLengthForm(_ length: Int, _ header: [UInt8]) {
        let frame = WebSocketWire.text(ByteBuffer(repeating: UInt8(ascii: "x"), count: length))
        #expect(Array(frame.readableBytesView.prefix(header.count)) == header)
        #expect(frame.readableBytes == header.count + length)
    }

    @Test func closeAndControlFrames() {
        #expect(Array(WebSocketWire.close(code: 1012).readableBytesView) == [0x88, 0x02, 0x03, 0xF4])
        #expect(Array(WebSocketWire.frame(.ping, payload: ByteBuffer()).readableBytesView) == [0x89, 0x00])
        #expect(Array(WebSocketWire.frame(.pong, payload: ByteBuffer(string: "a")).readableBytesView) == [0x8A, 0x01, 0x61])
    }
}
