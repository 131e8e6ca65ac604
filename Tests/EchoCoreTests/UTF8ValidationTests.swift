@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct UTF8ValidationASCIIRunTests {
    @Test(arguments: [
        ("", true), ("plain ascii text, longer than eight bytes", true), ("héllo wörld", true),
        ("12345678é", true), ("😀 emoji after ascii", true),
    ])
    func validText(text: String, valid: Bool) {
        #expect(Array(text.utf8).withUnsafeBytes(UTF8Validation.isValid) == valid)
    }

    @Test func invalidBytesAfterAnASCIIRun() {
        for prefix in 0..<20 {
            let ascii = [UInt8](repeating: 0x61, count: prefix)
            for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82]] {
                #expect(!(ascii + bad).withUnsafeBytes(UTF8Validation.isValid))
                #expect(!(ascii + bad + ascii).withUnsafeBytes(UTF8Validation.isValid))
            }
        }
    }
}

@Suite struct UTF8ValidationTests {
    @Test(arguments: [
        ([UInt8](), true), (Array("plain ascii".utf8), true), (Array("é 😀 李".utf8), true),
        ([0xFF], false), ([0xC0, 0x80], false), ([0xED, 0xA0, 0x80], false), ([0xE2, 0x82], false),
        (Array("ok".utf8) + [0xF5, 0x80, 0x80, 0x80], false),
    ])
    func acceptsOnlyWellFormedUTF8(_ bytes: [UInt8], _ valid: Bool) {
        #expect(bytes.withUnsafeBytes(UTF8Validation.isValid) == valid)
        #expect(valid == (String(validating: bytes, as: UTF8.self) != nil))
    }
}
