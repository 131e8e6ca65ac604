@testable import EchoCore
import EchoShared
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

@Suite struct ServerFramesTests {
    /// A join that announced features gets the granted ones; one that did not gets no field.
    @Test func sessionFrameNamesTheGrantedFeaturesOnlyWhenAsked() {
        let limits = ClientLimits(messageLength: 1, imageBytes: 2, ratePerMinute: 3, rateBurst: 4)
        let old = String(buffer: ServerFrames.session(sessionID: "s1", roomID: "r", username: "A", limits: limits))
        #expect(!old.contains("features"))
        #expect(String(buffer: ServerFrames.session(sessionID: "s1", roomID: "r", username: "A", limits: limits, features: .typing))
            == old.dropLast() + #","features":["typing"]}"#)
        #expect(String(buffer: ServerFrames.session(sessionID: "s1", roomID: "r", username: "A", limits: limits, features: []))
            == old.dropLast() + #","features":[]}"#)
    }

    @Test func sessionFrameCarriesTheLimitsTheServerEnforces() throws {
        var configuration = EchoConfiguration()
        configuration.maxMessageLength = 123
        configuration.rateLimitPerMinute = 0
        let frame = ServerFrames.session(sessionID: "s1", roomID: "r\"1", username: "Ann", limits: ClientLimits(configuration))
        #expect(String(buffer: frame) == #"{"type":"session","sessionId":"s1","roomId":"r\"1","username":"Ann","limits":{"messageLength":123,"imageBytes":3145728,"ratePerMinute":0,"rateBurst":20}}"#)
    }

    @Test func chatFrameSplicesTheStoredBody() throws {
        var request = ChatRequest(roomID: "r", text: "hi \"you\" <b>", image: nil, replyTo: nil, clientID: "c1")
        let body = ServerFrames.chatBody(sender: "Ann", sessionID: "s1", request: request, timestamp: 5)
        #expect(String(buffer: body) == #"{"sender":"Ann","sessionId":"s1","text":"hi \"you\" \u003cb\u003e","image":null,"replyTo":null,"timestamp":5,"clientId":"c1"}"#)
        let frame = ServerFrames.event(.chat(try #require(RoomEvent.Position(text: ByteBuffer(string: "9-1"))), body: body))
        #expect(String(buffer: frame) == #"{"type":"chat","id":"9-1","messageId":"9-1","sender":"Ann","sessionId":"s1","text":"hi \"you\" \u003cb\u003e","image":null,"replyTo":null,"timestamp":5,"clientId":"c1"}"#)
        request.clientID = nil
        request.replyTo = ReplyReference(messageID: "1-0", sender: "Bo", sessionID: nil, preview: "p", isImage: false)
        let reply = String(buffer: ServerFrames.chatBody(sender: "Ann", sessionID: "s1", request: request, timestamp: 5))
        #expect(reply.contains(#""replyTo":{"messageId":"1-0","sender":"Bo","sessionId":null,"preview":"p","isImage":false}"#))
    }

    @Test func systemEventPrefixCompletesToJSON() {
        var prefix = ServerFrames.systemEventPrefix(event: "join", username: "Ann", sessionID: "s", timestamp: 1)
        prefix.writeString("3}")
        #expect(String(buffer: prefix) == #"{"sender":"System","message":"join","username":"Ann","sessionId":"s","timestamp":1,"usersCount":3}"#)
    }

    @Test func historyAndErrorShapes() {
        let history = ServerFrames.history([ByteBuffer(string: "{\"a\":1}"), ByteBuffer(string: "{\"b\":2}")], recovered: false)
        #expect(String(buffer: history) == #"{"type":"history","messages":[{"a":1},{"b":2}],"recovered":false}"#)
        #expect(String(buffer: ServerFrames.history([], recovered: nil)) == #"{"type":"history","messages":[]}"#)
        let error = ServerFrames.error(ProtocolError(.rateLimited, "slow", retryAfterMilliseconds: 900))
        #expect(String(buffer: error) == #"{"type":"error","code":"RATE_LIMITED","message":"slow","retryAfterMs":900}"#)
    }

    @Test func escapesControlCharactersAndLineSeparators() {
        var buffer = ByteBuffer()
        JSONWriter.writeQuoted("a\u{1}\n\u{2028}&", into: &buffer)
        #expect(String(buffer: buffer) == #""a\u0001\n\u2028\u0026""#)
    }
}

@Suite struct FanOutFrameTests {
    @Test(arguments: [10, 200, 70_000])
    func inPlaceFrameEqualsTheCopiedOne(_ textLength: Int) throws {
        let request = ChatRequest(roomID: "r", text: String(repeating: "x", count: textLength), image: nil, replyTo: nil, clientID: nil)
        let body = ServerFrames.chatBody(sender: "Ann", sessionID: "s", request: request, timestamp: 1)
        let event = RoomEvent.chat(try #require(RoomEvent.Position(text: ByteBuffer(string: "5-1"))), body: body)
        let copied = WebSocketWire.text(ServerFrames.event(event))
        let inPlace = WebSocketWire.frame(.text, capacity: 16) { ServerFrames.write(event, into: &$0) }
        #expect(Array(inPlace.readableBytesView) == Array(copied.readableBytesView))
    }
}
