import EchoCore
import EchoShared
import Logging
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

@testable import Worker

/// The WebSocket pipeline a worker builds on upgrade (``ChatServer/addWebSocketHandlers``), on an
/// `EmbeddedChannel`, with exact bytes in and out. The hub is the real one; its Redis clients are
/// never started, and these frames never reach Redis.
@Suite struct ChatConnectionHandlerTests {
    /// A connected channel with the chat pipeline, and its hub.
    static func connection(maxFrameBytes: Int = 1024) throws -> (EmbeddedChannel, ChatHub) {
        let channel = EmbeddedChannel()
        let loop = channel.embeddedEventLoop
        var configuration = EchoConfiguration()
        configuration.maxFrameBytes = maxFrameBytes
        let logger = Logger(label: "echo.worker.test")
        let endpoint = try RedisEndpoint(url: "redis://127.0.0.1:1")
        let redis = try RedisSetup(topology: .single(endpoint), tls: nil, eventLoop: loop, timeout: .seconds(1), logger: logger)
        let hub = ChatHub(eventLoop: loop, store: RoomStore(redis: redis.commands, keys: .legacy, configuration: configuration), redis: redis,
                          configuration: configuration, logger: logger)
        try ChatServer.addWebSocketHandlers(to: channel.pipeline.syncOperations, after: nil, hub: hub, clientIP: "127.0.0.1")
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return (channel, hub)
    }

    /// A client frame as a browser sends it: masked (unless `masked` is false).
    static func clientFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv1: Bool = false) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode)
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126: buffer.writeInteger(maskBit | UInt8(payload.count))
        case ...0xFFFF:
            buffer.writeInteger(maskBit | 126)
            buffer.writeInteger(UInt16(payload.count))
        default:
            buffer.writeInteger(maskBit | 127)
            buffer.writeInteger(UInt64(payload.count))
        }
        guard masked else {
            buffer.writeBytes(payload)
            return buffer
        }
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        buffer.writeBytes(key)
        buffer.writeBytes(payload.enumerated().map { $0.element ^ key[$0.offset % 4] })
        return buffer
    }

    static func text(_ string: String, fin: Bool = true) -> ByteBuffer { clientFrame(0x1, Array(string.utf8), fin: fin) }

    /// Everything the handler wrote, as bytes.
    static func written(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    static func closeFrame(_ code: CloseCode) -> [UInt8] {
        [0x88, 0x02, UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
    }

    /// The JSON of a single server text frame (payload under 126 bytes).
    static func json(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2, bytes[0] == 0x81, Int(bytes[1]) == bytes.count - 2 else { return nil }
        return String(decoding: bytes[2...], as: UTF8.self)
    }

    @Test func aPingFrameIsAnsweredWithAPongCarryingItsPayload() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.clientFrame(0x9, Array("hi".utf8)))
        #expect(try Self.written(channel) == [0x8A, 0x02, UInt8(ascii: "h"), UInt8(ascii: "i")])
        #expect(channel.isActive)
    }

    @Test func aPingRequestIsAnsweredWithAPongMessage() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.text(#"{"type":"ping"}"#))
        let reply = try #require(Self.json(try Self.written(channel)))
        #expect(reply.hasPrefix(#"{"type":"pong","ts":"#))
    }

    @Test func aBinaryFrameClosesWith1003() throws {
        let (channel, hub) = try Self.connection()
        try channel.writeInbound(Self.clientFrame(0x2, [0, 1]))
        #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xEB])
        #expect(hub.counters.errors[.binaryNotSupported] == 1)
        // The close frame was written: the channel closes.
        #expect(!channel.isActive)
    }

    @Test func aFragmentedMessageIsPutTogether() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.text(#"{"type":"#, fin: false))
        #expect(try Self.written(channel) == [])
        // A control frame may come between the fragments.
        try channel.writeInbound(Self.clientFrame(0x9, []))
        #expect(try Self.written(channel) == [0x8A, 0x00])
        try channel.writeInbound(Self.clientFrame(0x0, Array(#""pi"#.utf8), fin: false))
        try channel.writeInbound(Self.clientFrame(0x0, Array(#"ng"}"#.utf8)))
        let reply = try #require(Self.json(try Self.written(channel)))
        #expect(reply.hasPrefix(#"{"type":"pong","ts":"#))
    }

    @Test func theAggregatorIsAddedOnlyForAConnectionThatFragments() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.text(#"{"type":"ping"}"#))
        _ = try Self.written(channel)
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: NIOWebSocketFrameAggregator.self) }
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: ClientFrameCheckHandler.self) }
        try channel.writeInbound(Self.text(#"{"type""#, fin: false))
        _ = try channel.pipeline.syncOperations.handler(type: NIOWebSocketFrameAggregator.self)
        _ = try channel.pipeline.syncOperations.handler(type: ClientFrameCheckHandler.self)
        try channel.writeInbound(Self.clientFrame(0x0, Array(#":"ping"}"#.utf8)))
        try channel.writeInbound(Self.text(#"{"type":"ping"}"#))
        let bytes = try Self.written(channel)
        // Two pong messages of the same length.
        #expect(bytes.count % 2 == 0)
        let half = bytes.count / 2
        #expect(Self.json(Array(bytes[..<half]))?.hasPrefix(#"{"type":"pong","ts":"#) == true)
        #expect(Self.json(Array(bytes[half...]))?.hasPrefix(#"{"type":"pong","ts":"#) == true)
    }

    @Test func tooManyFragmentsCloseWith1009() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.text("[", fin: false))
        for _ in 0..<(ChatServer.maxFragments - 2) { try channel.writeInbound(Self.clientFrame(0x0, [], fin: false)) }
        #expect(try Self.written(channel) == [])
        try channel.writeInbound(Self.clientFrame(0x0, [], fin: false))
        #expect(try Self.written(channel) == Self.closeFrame(.messageTooLarge))
    }

    @Test func anOversizeFrameClosesWith1009() throws {
        let (channel, _) = try Self.connection(maxFrameBytes: 1024)
        try channel.writeInbound(Self.clientFrame(0x1, Array(repeating: UInt8(ascii: "x"), count: 1025)))
        #expect(try Self.written(channel) == Self.closeFrame(.messageTooLarge))
    }

    @Test func anOversizeFragmentedMessageClosesWith1009() throws {
        let (channel, _) = try Self.connection(maxFrameBytes: 1024)
        try channel.writeInbound(Self.clientFrame(0x1, Array(repeating: UInt8(ascii: " "), count: 600), fin: false))
        try channel.writeInbound(Self.clientFrame(0x0, Array(repeating: UInt8(ascii: " "), count: 600)))
        #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xF1])
    }

    @Test func aContinuationWithoutAStartClosesWith1002() throws {
        let (channel, hub) = try Self.connection()
        try channel.writeInbound(Self.clientFrame(0x0, Array("x".utf8)))
        #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xEA])
        #expect(hub.counters.protocolErrorCloses == 0)
    }

    @Test func aNewMessageBeforeTheLastOneFinishedClosesWith1002() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.text(#"{"type":"#, fin: false))
        try channel.writeInbound(Self.text(#"{"type":"ping"}"#))
        #expect(try Self.written(channel) == Self.closeFrame(.protocolError))
    }

    /// Once a connection fragments, the check runs in its own handler before the aggregator.
    @Test func anUnmaskedOrReservedBitContinuationClosesWith1002AndCounts() throws {
        for frame in [Self.clientFrame(0x0, Array(#":"ping"}"#.utf8), masked: false),
                      Self.clientFrame(0x0, Array(#":"ping"}"#.utf8), rsv1: true)] {
            let (channel, hub) = try Self.connection()
            try channel.writeInbound(Self.text(#"{"type""#, fin: false))
            try channel.writeInbound(frame)
            #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xEA])
            #expect(hub.counters.protocolErrorCloses == 1)
        }
    }

    @Test func unmaskedOrReservedBitFramesCloseWith1002AndCount() throws {
        for frame in [Self.clientFrame(0x1, Array(#"{"type":"ping"}"#.utf8), masked: false),
                      Self.clientFrame(0x1, Array(#"{"type":"ping"}"#.utf8), rsv1: true),
                      Self.clientFrame(0x1, Array(#"{"type":"#.utf8), fin: false, masked: false)] {
            let (channel, hub) = try Self.connection()
            try channel.writeInbound(frame)
            #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xEA])
            #expect(hub.counters.protocolErrorCloses == 1)
        }
    }

    @Test func invalidUTF8ClosesWith1007() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.clientFrame(0x1, [UInt8(ascii: "{"), 0xFF, 0xFE]))
        #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xEF])
    }

    @Test func aClientCloseIsEchoed() throws {
        let (channel, _) = try Self.connection()
        try channel.writeInbound(Self.clientFrame(0x8, [0x03, 0xE8]))
        #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xE8])
        #expect(!channel.isActive)
    }

    @Test func aDrainSendsItsCloseCode() throws {
        let (channel, hub) = try Self.connection()
        let closed = hub.drain(code: .serviceRestart, window: .zero)
        channel.embeddedEventLoop.run()
        #expect(try Self.written(channel) == [0x88, 0x02, 0x03, 0xF4])
        #expect(!channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        try closed.wait()
        #expect(hub.connections.count == 0)
    }

    /// Redis is down (the hub's clients never connected): the subscribe fails at once, the join
    /// gets UNAVAILABLE, its membership and subscription are released, and the connection is
    /// idle and usable again.
    @Test func aJoinWhileRedisIsDownGetsUnavailableAndReleasesTheRoom() throws {
        let (channel, hub) = try Self.connection()
        try channel.writeInbound(Self.text(#"{"type":"join","payload":{"roomId":"room1234","username":"ann","action":"join"}}"#))
        channel.embeddedEventLoop.run()
        #expect(Self.json(try Self.written(channel))
            == #"{"type":"error","code":"UNAVAILABLE","message":"Chat storage is unavailable; try again in a moment."}"#)
        #expect(hub.rooms.isEmpty)
        #expect(hub.subscriber.channelCount == 0)
        #expect(hub.counters.errors[.unavailable] == 1)
        try channel.writeInbound(Self.text(#"{"type":"history"}"#))
        #expect(Self.json(try Self.written(channel))
            == #"{"type":"error","code":"NOT_JOINED","message":"Join a room before asking for its history."}"#)
    }

    @Test func aChatBeforeJoiningGetsAnError() throws {
        let (channel, hub) = try Self.connection()
        try channel.writeInbound(Self.text(#"{"type":"chat","payload":{"message":"hi"}}"#))
        #expect(Self.json(try Self.written(channel)) == #"{"type":"error","code":"NOT_JOINED","message":"Join a room before sending messages."}"#)
        #expect(hub.counters.errors[.notJoined] == 1)
    }
}
