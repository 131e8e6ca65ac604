@testable import EchoCore
import EchoShared
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct ClientCloseFrameTests {
    private func payload(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test func anEmptyCloseIsANormalClosure() {
        #expect(ClientCloseFrame.answer(to: payload([])) == .normal)
    }

    @Test func aClientsOwnCodeIsEchoed() {
        #expect(ClientCloseFrame.answer(to: payload([0x03, 0xE8])) == .normal)
        #expect(ClientCloseFrame.answer(to: payload([0x03, 0xE9] + Array("bye".utf8))) == .goingAway)
        #expect(ClientCloseFrame.answer(to: payload([0x0F, 0xA0])) == CloseCode(rawValue: 4000))
    }

    @Test func malformedClosesAreProtocolErrors() {
        #expect(ClientCloseFrame.answer(to: payload([0x03])) == .protocolError)  // 1 byte
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            let bytes = [UInt8(code >> 8), UInt8(code & 0xFF)]
            #expect(ClientCloseFrame.answer(to: payload(bytes)) == .protocolError, "code \(code)")
        }
    }

    @Test func aReasonThatIsNotUTF8Is1007() {
        #expect(ClientCloseFrame.answer(to: payload([0x03, 0xE8, 0xFF, 0xFE])) == .invalidPayload)
    }
}
