@testable import EchoCore
import NIOCore
import Testing

@Suite struct RESPCodecTests {
    func encode(_ command: RESPCommand) -> ByteBuffer {
        var buffer = ByteBuffer()
        RESPCodec.encode(command, into: &buffer)
        return buffer
    }

    @Test func encodesCommandsAsRESPArrays() {
        let bytes = encode(RESPCommand("SET", "key", .integer(42)))
        #expect(String(buffer: bytes) == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n")
    }

    @Test func encodesBinaryArgumentsExactly() {
        let payload = ByteBuffer(bytes: [0x00, 0xFF, 0x0D, 0x0A])
        let bytes = encode(RESPCommand("PUBLISH", "c", .bytes(payload)))
        #expect(Array(bytes.readableBytesView) == Array("*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$4\r\n".utf8) + [0x00, 0xFF, 0x0D, 0x0A] + Array("\r\n".utf8))
    }

    @Test func encodesEmptyArgument() {
        let bytes = encode(RESPCommand("GET", ""))
        #expect(String(buffer: bytes) == "*2\r\n$3\r\nGET\r\n$0\r\n\r\n")
    }

    @Test func decodesEveryReplyKind() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "+OK\r\n-ERR bad\r\n:12\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*-1\r\n"))
        #expect(try reader.next() == .simpleString("OK"))
        #expect(try reader.next() == .error("ERR bad"))
        #expect(try reader.next() == .integer(12))
        #expect(try reader.next() == .bulkString(ByteBuffer(string: "abc")))
        #expect(try reader.next() == .null)
        #expect(try reader.next() == .array([.bulkString(ByteBuffer(string: "a")), .integer(1)]))
        #expect(try reader.next() == .null)
        #expect(try reader.next() == nil)
    }

    @Test func decodesRepliesSplitAcrossReads() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "$5\r\nhel"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: "lo\r\n"))
        #expect(try reader.next() == .bulkString(ByteBuffer(string: "hello")))
    }

    @Test func keepsBinaryBulkStrings() throws {
        let reader = RESPReader()
        var input = ByteBuffer(string: "$3\r\n")
        input.writeBytes([0x00, 0x01, 0x00])
        input.writeString("\r\n")
        try reader.feed(input)
        #expect(try reader.next() == .bulkString(ByteBuffer(bytes: [0x00, 0x01, 0x00])))
    }

    @Test func protocolErrorThrows() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "?nonsense\r\n"))
        #expect(throws: RedisError.self) { try reader.next() }
    }
}

@Suite struct ReconnectBackoffTests {
    @Test func doublesUpToTheCapWithJitter() {
        #expect(ReconnectBackoff.delay(attempt: 0, jitter: 0) == .milliseconds(100))
        #expect(ReconnectBackoff.delay(attempt: 3, jitter: 0) == .milliseconds(800))
        #expect(ReconnectBackoff.delay(attempt: 30, jitter: 0) == .milliseconds(5000))
        #expect(ReconnectBackoff.delay(attempt: 30, jitter: 1) == .milliseconds(6000))
        #expect(ReconnectBackoff.delay(attempt: 30, jitter: -1) == .milliseconds(4000))
    }
}
