@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct StreamIDTests {
    @Test func parsesAndOrders() {
        #expect(StreamID("5-1")! < StreamID("5-2")!)
        #expect(StreamID("5-9")! < StreamID("6-0")!)
        #expect(StreamID("7") == StreamID(milliseconds: 7, sequence: 0))
        #expect(StreamID("1-") == nil)
        #expect(StreamID("-1") == nil)
        #expect(StreamID("1-2-3") == nil)
        #expect(StreamID("+") == nil)
        #expect(StreamID("") == nil)
        #expect(StreamID("1 2") == nil)
    }

    @Test func bytesParseLikeText() {
        #expect(Array("1700000000000-42".utf8).withUnsafeBytes { StreamID(utf8: $0) } == StreamID(milliseconds: 1_700_000_000_000, sequence: 42))
        #expect(Array("18446744073709551615-0".utf8).withUnsafeBytes { StreamID(utf8: $0) } == StreamID(milliseconds: .max, sequence: 0))
        // One past UInt64.max in either part is not an ID (it would wrap otherwise).
        #expect(Array("18446744073709551616-0".utf8).withUnsafeBytes { StreamID(utf8: $0) } == nil)
        #expect(Array("1-18446744073709551616".utf8).withUnsafeBytes { StreamID(utf8: $0) } == nil)
        #expect(Array("1--2".utf8).withUnsafeBytes { StreamID(utf8: $0) } == nil)
    }
}
