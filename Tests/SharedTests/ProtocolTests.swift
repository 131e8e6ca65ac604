import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing
@testable import Shared

private func parse(_ json: String, limits: InputLimits = InputLimits()) throws(ProtocolError) -> ClientRequest {
    try ClientRequest.parse(ByteBuffer(string: json), limits: limits)
}

private func code(_ json: String, limits: InputLimits = InputLimits()) -> ProtocolError.Code? {
    do {
        _ = try parse(json, limits: limits)
        return nil
    } catch {
        return error.code
    }
}

/// A minimal valid PNG header, base64-encoded, padded to a small image.
private let png = "data:image/png;base64," + [UInt8]([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D]).base64

@Suite struct ClientRequestTests {
    @Test func parsesJoinWithSince() throws {
        let request = try parse(#"{"type":"join","payload":{"roomId":"abc_1-234","username":"  Ann Lee ","action":"rejoin","since":"1700000000000-3"}}"#)
        #expect(request == .join(JoinRequest(roomID: "abc_1-234", username: "Ann Lee", action: .rejoin, since: StreamID(milliseconds: 1_700_000_000_000, sequence: 3))))
    }

    @Test func joinWithoutActionCreates() throws {
        guard case .join(let j) = try parse(#"{"type":"join","payload":{"roomId":"room1234","username":"u"}}"#) else {
            Issue.record("not a join")
            return
        }
        #expect(j.action == .create)
    }

    // A short code names only a room made before codes had a minimum length: never created.
    @Test func shortRoomCodesAreNeverCreated() throws {
        #expect(code(#"{"type":"join","payload":{"roomId":"abc1234","username":"u","action":"create"}}"#) == .invalidRoomID)
        for action in [#""#, #","action":"join""#, #","action":"rejoin""#] {
            guard case .join(let j) = try parse(#"{"type":"join","payload":{"roomId":"abc1234","username":"u"\#(action)}}"#) else {
                Issue.record("not a join")
                return
            }
            #expect(j.action == .join)
        }
        guard case .join(let long) = try parse(#"{"type":"join","payload":{"roomId":"abcd1234","username":"u","action":"create"}}"#) else {
            Issue.record("not a join")
            return
        }
        #expect(long.action == .create)
        guard case .join(let rejoin) = try parse(#"{"type":"join","payload":{"roomId":"abcd1234","username":"u","action":"rejoin"}}"#) else {
            Issue.record("not a join")
            return
        }
        #expect(rejoin.action == .rejoin)
    }

    @Test func topLevelFieldsAreAccepted() throws {
        guard case .chat(let c) = try parse(#"{"type":"chat","roomId":"r","message":"hi"}"#) else {
            Issue.record("not a chat")
            return
        }
        #expect(c.text == "hi")
        #expect(c.roomID == "r")
    }

    @Test func parsesSimpleTypes() throws {
        #expect(try parse(#"{"type":"ping"}"#) == .ping)
        #expect(try parse(#"{"type":"history"}"#) == .history)
        #expect(try parse(#"{"type":"leave","payload":{"roomId":"r"}}"#) == .leave)
    }

    // The validation table: each broken rule has its own stable code.
    @Test(arguments: [
        ("{nope", ProtocolError.Code.invalidJSON),
        ("[]", .invalidPayload),
        (#"{"payload":{}}"#, .missingType),
        (#"{"type":"dance"}"#, .unknownType),
        (#"{"type":"join","payload":{"roomId":"r","username":""}}"#, .invalidUsername),
        (#"{"type":"join","payload":{"roomId":"r","username":"   "}}"#, .invalidUsername),
        (#"{"type":"join","payload":{"roomId":"r","username":"<script>"}}"#, .invalidUsername),
        (#"{"type":"join","payload":{"roomId":"r","username":"abcdefghijabcdefghijabcdefghijX"}}"#, .invalidUsername),
        (#"{"type":"join","payload":{"roomId":"r","username":"ann\u200d"}}"#, .invalidUsername),
        (#"{"type":"join","payload":{"roomId":"a b","username":"u"}}"#, .invalidRoomID),
        (#"{"type":"join","payload":{"roomId":"","username":"u"}}"#, .invalidRoomID),
        (#"{"type":"join","payload":{"roomId":"r/../x","username":"u"}}"#, .invalidRoomID),
        (#"{"type":"join","payload":{"username":"u"}}"#, .invalidRoomID),
        (#"{"type":"join","payload":{"roomId":"r","username":"u","action":"steal"}}"#, .invalidAction),
        (#"{"type":"join","payload":{"roomId":"r","username":"u","since":"yesterday"}}"#, .invalidSince),
        (#"{"type":"join","payload":{"roomId":5,"username":"u"}}"#, .invalidPayload),
        (#"{"type":"chat","payload":{"roomId":"r"}}"#, .emptyMessage),
        (#"{"type":"chat","payload":{"roomId":"r","message":"  \n "}}"#, .emptyMessage),
        (#"{"type":"chat","payload":{"roomId":"r","message":"x","clientId":"a b"}}"#, .invalidClientID),
        (#"{"type":"chat","payload":{"roomId":"r","message":"x","replyTo":{"sender":"a"}}}"#, .invalidReply),
        (#"{"type":"chat","payload":{"roomId":"r","message":"x","replyTo":{"messageId":"1-0"}}}"#, .invalidReply),
        (#"{"type":"chat","payload":{"roomId":"r","image":"data:image/svg+xml;base64,PHN2Zz4="}}"#, .invalidImage),
        (#"{"type":"chat","payload":{"roomId":"r","image":"https://example.com/a.png"}}"#, .invalidImage),
        (#"{"type":"chat","payload":{"roomId":"r","image":"data:image/png;base64,R0lGODlhAQABAAAAACw="}}"#, .invalidImage),
        (#"{"type":"chat","payload":{"roomId":"r","image":"data:image/png;base64,iVBO!!!="}}"#, .invalidImage),
    ])
    func refusesBrokenRules(_ json: String, _ expected: ProtocolError.Code) {
        #expect(code(json) == expected)
    }

    @Test func messageLengthCountsLikeJavaScript() {
        // 1000 emoji are 2000 UTF-16 units: allowed. One more unit is not.
        let emoji = String(repeating: "😀", count: 1000)
        #expect(code(#"{"type":"chat","payload":{"message":"\#(emoji)"}}"#) == nil)
        #expect(code(#"{"type":"chat","payload":{"message":"\#(emoji)a"}}"#) == .messageTooLong)
        #expect(code(#"{"type":"chat","payload":{"message":"\#(String(repeating: "a", count: 2001))"}}"#) == .messageTooLong)
    }

    @Test func acceptsEachImageFormatByMagicNumber() {
        let gif = "data:image/gif;base64," + Array("GIF89a\u{1}\u{0}\u{1}\u{0}\u{0}\u{0}".utf8).base64
        let jpeg = "data:image/jpeg;base64," + [UInt8]([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46, 0x49, 0x46, 0, 1]).base64
        let webp = "data:image/webp;base64," + Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8).base64
        for image in [png, gif, jpeg, webp] {
            #expect(code(#"{"type":"chat","payload":{"image":"\#(image)"}}"#) == nil, "\(image)")
        }
        // A JPEG's bytes under a PNG label are refused.
        let lie = "data:image/png;base64," + [UInt8]([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46, 0x49, 0x46, 0, 1]).base64
        #expect(code(#"{"type":"chat","payload":{"image":"\#(lie)"}}"#) == .invalidImage)
    }

    @Test func imageSizeLimitUsesDecodedBytes() {
        var limits = InputLimits()
        limits.maxImageBytes = 12
        #expect(code(#"{"type":"chat","payload":{"image":"\#(png)"}}"#, limits: limits) == nil)
        limits.maxImageBytes = 11
        #expect(code(#"{"type":"chat","payload":{"image":"\#(png)"}}"#, limits: limits) == .imageTooLarge)
    }

    @Test func replyPreviewIsCutTo100Units() throws {
        let long = String(repeating: "é", count: 150)
        guard case .chat(let c) = try parse(#"{"type":"chat","payload":{"message":"x","replyTo":{"messageId":"1-0","sender":"Ann","preview":"\#(long)","isImage":true,"extra":1}}}"#) else {
            Issue.record("not a chat")
            return
        }
        #expect(c.replyTo?.preview?.utf16.count == 100)
        #expect(c.replyTo?.isImage == true)
        #expect(c.replyTo?.sender == "Ann")
    }

    @Test func unicodeLettersAreNames() throws {
        #expect(try InputRules.username("José_Ñ-1 李", limits: InputLimits()) == "José_Ñ-1 李")
    }
}

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

@Suite struct WhitespaceTests {
    @Test func blankIsUnicodeWhiteSpace() {
        #expect(InputRules.isBlank(""))
        #expect(InputRules.isBlank(" \t\r\n\u{00A0}\u{2003}\u{3000}\u{2028}"))
        #expect(!InputRules.isBlank("  a "))
        // Invisible either way: a zero-width space or a byte-order mark alone is no message.
        #expect(InputRules.isBlank("\u{200B}\u{FEFF}"))
        #expect(!InputRules.isBlank("\u{200D}"))
    }

    @Test func trimsBothEnds() {
        #expect(InputRules.trimmingWhitespace("\u{00A0} Ann Lee \n") == "Ann Lee")
        #expect(InputRules.trimmingWhitespace("   ") == "")
        #expect(InputRules.trimmingWhitespace("é") == "é")
    }
}

@Suite struct ServerFramesTests {
    @Test func chatFrameSplicesTheStoredBody() {
        var request = ChatRequest(roomID: "r", text: "hi \"you\" <b>", image: nil, replyTo: nil, clientID: "c1")
        let body = ServerFrames.chatBody(sender: "Ann", sessionID: "s1", request: request, timestamp: 5)
        #expect(String(buffer: body) == #"{"sender":"Ann","sessionId":"s1","text":"hi \"you\" \u003cb\u003e","image":null,"replyTo":null,"timestamp":5,"clientId":"c1"}"#)
        let frame = ServerFrames.chat(id: ByteBuffer(string: "9-1"), body: body)
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

@Suite struct TokenBucketTests {
    @Test func allowsBurstThenRefusesWithRetryAfter() {
        var bucket = TokenBucket(capacity: 3, ratePerMinute: 60, nowMilliseconds: 0)
        #expect(bucket.take(nowMilliseconds: 0) == .allowed)
        #expect(bucket.take(nowMilliseconds: 0) == .allowed)
        #expect(bucket.take(nowMilliseconds: 0) == .allowed)
        #expect(bucket.take(nowMilliseconds: 0) == .refused(retryAfterMilliseconds: 1000))
        // 60/min is one token a second: after 500 ms, half a token; 500 ms more to wait.
        #expect(bucket.take(nowMilliseconds: 500) == .refused(retryAfterMilliseconds: 500))
        #expect(bucket.take(nowMilliseconds: 1000) == .allowed)
    }

    @Test func refillsNoHigherThanCapacity() {
        var bucket = TokenBucket(capacity: 2, ratePerMinute: 600, nowMilliseconds: 0)
        _ = bucket.take(nowMilliseconds: 0)
        _ = bucket.take(nowMilliseconds: 0)
        _ = bucket.take(nowMilliseconds: 3_600_000)
        #expect(bucket.tokens == 1)
    }

    @Test func zeroRateIsOff() {
        var bucket = TokenBucket(capacity: 1, ratePerMinute: 0, nowMilliseconds: 0)
        for _ in 0..<100 { #expect(bucket.take(nowMilliseconds: 0) == .allowed) }
    }
}

@Suite struct InboundByteBudgetTests {
    let second: UInt64 = 1_000_000_000

    @Test func burstThenRateThenPause() {
        var budget = InboundByteBudget(burst: 1000, nowNanoseconds: 0)
        let first = budget.charge(600, bytesPerSecond: 100, burst: 1000, nowNanoseconds: 0)
        #expect(first)
        // A frame larger than what is left is still taken (it was read already): the debt pauses reading.
        let second = budget.charge(900, bytesPerSecond: 100, burst: 1000, nowNanoseconds: 0)
        #expect(!second)
        #expect(budget.balance == -500)
        // 501 bytes at 100 B/s: 5.01 s.
        let now = budget.pauseNanoseconds(bytesPerSecond: 100, burst: 1000, nowNanoseconds: 0)
        #expect(now == 5_010_000_000)
        let later = budget.pauseNanoseconds(bytesPerSecond: 100, burst: 1000, nowNanoseconds: 2 * self.second)
        #expect(later == 3_010_000_000)
        let done = budget.pauseNanoseconds(bytesPerSecond: 100, burst: 1000, nowNanoseconds: 6 * self.second)
        #expect(done == 0)
        #expect(budget.balance == 100)
    }

    @Test func refillStopsAtTheBurstAndKeepsFractions() {
        var budget = InboundByteBudget(burst: 1000, nowNanoseconds: 0)
        let allowed = budget.charge(1000, bytesPerSecond: 3, burst: 1000, nowNanoseconds: 0)
        #expect(!allowed)
        // 3 B/s: a third of a second earns one byte; the remainder is not lost across calls.
        for step in 1...6 { _ = budget.pauseNanoseconds(bytesPerSecond: 3, burst: 1000, nowNanoseconds: UInt64(step) * second / 6) }
        #expect(budget.balance == 3)
        _ = budget.pauseNanoseconds(bytesPerSecond: 3, burst: 1000, nowNanoseconds: 10_000 * second)
        #expect(budget.balance == 1000)
        // A huge gap does not overflow.
        _ = budget.pauseNanoseconds(bytesPerSecond: 1 << 40, burst: 1000, nowNanoseconds: UInt64.max / 2)
        #expect(budget.balance == 1000)
    }
}

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

@Suite struct HistoryBudgetTests {
    @Test func keepsTheNewestThatFit() {
        #expect(HistoryBudget.keptCount(sizes: [], budget: 100) == 0)
        #expect(HistoryBudget.keptCount(sizes: [10, 10, 10], budget: 100) == 3)
        // Newest last; each message costs its size plus a comma.
        #expect(HistoryBudget.keptCount(sizes: [50, 40, 30], budget: 72) == 2)
        #expect(HistoryBudget.keptCount(sizes: [50, 40, 30], budget: 71) == 1)
        // The newest message is always kept, even over the budget (it is bounded by the frame limit).
        #expect(HistoryBudget.keptCount(sizes: [10, 500], budget: 100) == 1)
    }
}

@Suite struct ClientAddressTests {
    let proxies = ["10.0.0.0/8", "::1"].compactMap(IPAddressRange.init)

    @Test func untrustedPeersCannotSpoof() {
        #expect(ClientAddress.resolve(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"], trusted: proxies) == "203.0.113.9")
        #expect(ClientAddress.resolve(peer: "203.0.113.9", forwardedFor: ["1.2.3.4"], trusted: []) == "203.0.113.9")
    }

    @Test func trustedProxyHopsAreSkippedFromTheRight() {
        #expect(ClientAddress.resolve(peer: "10.1.1.1", forwardedFor: ["6.6.6.6, 198.51.100.7, 10.2.2.2"], trusted: proxies) == "198.51.100.7")
        #expect(ClientAddress.resolve(peer: "::1", forwardedFor: ["198.51.100.7"], trusted: proxies) == "198.51.100.7")
        #expect(ClientAddress.resolve(peer: "10.1.1.1", forwardedFor: [], trusted: proxies) == "10.1.1.1")
        #expect(ClientAddress.resolve(peer: "10.1.1.1", forwardedFor: ["garbage"], trusted: proxies) == "10.1.1.1")
    }

    @Test func rangesMatchByPrefix() {
        let range = IPAddressRange("192.168.0.0/16")!
        #expect(range.contains("192.168.4.5"))
        #expect(!range.contains("192.169.0.1"))
        #expect(range.contains("::ffff:192.168.1.1"))
        #expect(IPAddressRange("10.0.0.0/33") == nil)
        #expect(IPAddressRange("nonsense") == nil)
    }
}

@Suite struct ConfigurationTests {
    @Test func flagsBeatEnvironmentBeatDefaults() throws {
        let options = try EchoOptions.parse(["--port", "9000"])
        let configuration = try options.configuration(environment: ["PORT": "7000", "ECHO_RATE_LIMIT": "5", "ECHO_ENV": "production"])
        #expect(configuration.port == 9000)
        #expect(configuration.rateLimitPerMinute == 5)
        #expect(configuration.logFormat == .json)
        #expect(configuration.historyLimit == 50)
    }

    @Test func roundTripsThroughWorkerEnvironment() throws {
        let configuration = try EchoConfiguration(values: ["ECHO_TRUSTED_PROXIES": "10.0.0.0/8, ::1", "REDIS_URL": "redis://h:1/2", "ECHO_ROOM_TTL": "60"])
        #expect(try EchoConfiguration(values: configuration.environment) == configuration)
    }

    @Test func refusesBadValues() {
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["PORT": "http"]) }
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["ECHO_TRUSTED_PROXIES": "everyone"]) }
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["REDIS_URL": "mysql://x"]) }
        #expect(throws: ConfigurationError.self) { try EchoConfiguration(values: ["ECHO_LOG_FORMAT": "xml"]) }
    }
}

@Suite struct ControlMessageTests {
    @Test(arguments: [
        ControlMessage.ready(pid: 7), .heartbeat(WorkerStats(slot: 1, connections: 3)), .stoppedAccepting, .drained,
        .stopAccepting, .drain(closeCode: 1012, windowMilliseconds: 500),
        .host(HostStats(supervisorPID: 1, workerRestarts: 2, workers: [WorkerStats(slot: 0)])),
    ])
    func roundTripsAsOneLine(_ message: ControlMessage) throws {
        let line = message.encodedLine()
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(!line.dropLast().contains(UInt8(ascii: "\n")))
        #expect(try ControlMessage(line: line.dropLast()) == message)
    }
}

extension Array where Element == UInt8 {
    var base64: String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var i = 0
        while i < count {
            let b0 = self[i], b1 = i + 1 < count ? self[i + 1] : 0, b2 = i + 2 < count ? self[i + 2] : 0
            out.append(table[Int(b0 >> 2)])
            out.append(table[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(i + 1 < count ? table[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < count ? table[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}

@Suite struct ResumePlanTests {
    let a = StreamID("10-0")!, b = StreamID("11-0")!, c = StreamID("12-0")!

    @Test func dropsLiveCopiesOfReplayedMessagesAndKeepsTheRestInOrder() {
        let buffered: [(id: StreamID?, frame: String)] = [(a, "a"), (nil, "join"), (b, "b"), (c, "c")]
        let live = ResumePlan.liveAfterHistory(buffered, lastSeen: b)
        #expect(live.map(\.frame) == ["join", "c"])
    }

    @Test func keepsEverythingWhenNothingWasSeen() {
        let buffered: [(id: StreamID?, frame: String)] = [(a, "a"), (b, "b")]
        #expect(ResumePlan.liveAfterHistory(buffered, lastSeen: nil).map(\.frame) == ["a", "b"])
    }

    @Test func lastSeenIsTheNewestReplayedOrTheResumePoint() {
        #expect(ResumePlan.lastSeen(history: [a, b], since: a) == b)
        #expect(ResumePlan.lastSeen(history: [], since: c) == c)
        #expect(ResumePlan.lastSeen(history: [], since: nil) == nil)
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

@Suite struct WebSocketHandshakeTests {
    func head(_ headers: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/ws", headers: HTTPHeaders(headers))
    }

    let good: [(String, String)] = [
        ("Host", "x"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
    ]

    @Test func sha1MatchesKnownDigests() {
        let hex = { (bytes: [UInt8]) in bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        #expect(hex(SHA1.hash(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex(SHA1.hash(Array(String(repeating: "a", count: 1000).utf8))) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test func acceptValueIsTheRFCExample() {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func acceptsAValidHandshake() {
        guard case .accept(let headers) = WebSocketHandshake.decide(head: head(good), isWebSocketPath: true, originAllowed: true, accepting: true) else {
            Issue.record("refused")
            return
        }
        #expect(headers.first(name: "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func refusesBrokenHandshakes() {
        func decide(_ headers: [(String, String)], path: Bool = true, origin: Bool = true, accepting: Bool = true, method: HTTPMethod = .GET) -> WebSocketHandshake.Decision {
            WebSocketHandshake.decide(head: head(headers, method: method), isWebSocketPath: path, originAllowed: origin, accepting: accepting)
        }
        #expect(decide([("Host", "x")]) == .notWebSocket)
        guard case .refuse(.badRequest, _) = decide(good, path: false) else { Issue.record("path"); return }
        guard case .refuse(.forbidden, _) = decide(good, origin: false) else { Issue.record("origin"); return }
        guard case .refuse(.serviceUnavailable, _) = decide(good, accepting: false) else { Issue.record("draining"); return }
        guard case .refuse(.badRequest, _) = decide(good, method: .POST) else { Issue.record("method"); return }
        let oldVersion = good.map { $0.0 == "Sec-WebSocket-Version" ? ($0.0, "8") : $0 }
        guard case .refuse(.upgradeRequired, _) = decide(oldVersion) else { Issue.record("version"); return }
        let badKey = good.map { $0.0 == "Sec-WebSocket-Key" ? ($0.0, "short") : $0 }
        guard case .refuse(.badRequest, _) = decide(badKey) else { Issue.record("key"); return }
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

@Suite struct FanOutFrameTests {
    @Test(arguments: [10, 200, 70_000])
    func inPlaceFrameEqualsTheCopiedOne(_ textLength: Int) {
        let request = ChatRequest(roomID: "r", text: String(repeating: "x", count: textLength), image: nil, replyTo: nil, clientID: nil)
        let body = ServerFrames.chatBody(sender: "Ann", sessionID: "s", request: request, timestamp: 1)
        let copied = WebSocketWire.text(ServerFrames.chat(id: ByteBuffer(string: "5-1"), body: body))
        let inPlace = WebSocketWire.frame(.text, capacity: 16) { ServerFrames.writeChat(id: ByteBuffer(string: "5-1"), body: body, into: &$0) }
        #expect(Array(inPlace.readableBytesView) == Array(copied.readableBytesView))
    }
}

@Suite struct ConfigurationSourceTests {
    @Test func flagsBeatEnvironmentAndEmptyMeansUnset() throws {
        let flag: Double? = 2.5
        let none: String? = nil
        let source = ConfigurationSource(environment: ["A": "1", "B": "", "C": "7"], flags: ["A": flag, "C": none])
        #expect(try source.seconds("A", in: 0...10) == .milliseconds(2500))
        #expect(source.string("B") == nil)
        #expect(try source.int("C", in: 0...10) == 7)
        #expect(try source.int("missing", in: 0...10) == nil)
    }

    @Test func badValuesNameTheirKey() {
        let source = ConfigurationSource(["N": "eleven", "S": "99"])
        #expect(throws: ConfigurationError.self) { try source.int("N", in: 0...100) }
        do {
            _ = try source.seconds("S", in: 0...10)
            Issue.record("accepted an out-of-range value")
        } catch let error as ConfigurationError {
            #expect(error.key == "S")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct ClientCloseFrameTests {
    private func payload(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test func anEmptyCloseIsANormalClosure() {
        #expect(ClientCloseFrame.answer(to: payload([])) == .normalClosure)
    }

    @Test func aClientsOwnCodeIsEchoed() {
        #expect(ClientCloseFrame.answer(to: payload([0x03, 0xE8])) == .normalClosure)
        #expect(ClientCloseFrame.answer(to: payload([0x03, 0xE9] + Array("bye".utf8))) == .goingAway)
        #expect(ClientCloseFrame.answer(to: payload([0x0F, 0xA0])) == WebSocketErrorCode(codeNumber: 4000))
    }

    @Test func malformedClosesAreProtocolErrors() {
        #expect(ClientCloseFrame.answer(to: payload([0x03])) == .protocolError)  // 1 byte
        for code in [0, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
            let bytes = [UInt8(code >> 8), UInt8(code & 0xFF)]
            #expect(ClientCloseFrame.answer(to: payload(bytes)) == .protocolError, "code \(code)")
        }
    }

    @Test func aReasonThatIsNotUTF8Is1007() {
        #expect(ClientCloseFrame.answer(to: payload([0x03, 0xE8, 0xFF, 0xFE])) == .dataInconsistentWithMessage)
    }
}
