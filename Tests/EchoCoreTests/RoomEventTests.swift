@testable import EchoCore
import NIOCore
import Testing

@Suite struct RoomEventTests {
    static func chat(_ id: String = "1700000000000-3", body: String = #"{"sender":"Ann","text":"hi"}"#) throws -> RoomEvent {
        .chat(try #require(RoomEvent.Position(text: ByteBuffer(string: id))), body: ByteBuffer(string: body))
    }

    static let system = RoomEvent.system(ByteBuffer(string: #"{"sender":"System","message":"join","usersCount":2}"#))

    /// Every kind: adding a case to ``RoomEvent`` without adding it here fails `kindsAreAllTested`.
    static func everyKind() throws -> [RoomEvent] { [try chat(), system, typing, edit, delete, react, kick, lock] }

    static let author = String(repeating: "0123456789abcdef", count: 4)
    /// A kick as ``ModerationScript`` publishes it: the prefix, the name, the author hash, the brace.
    static func kickBody(author: String?) -> ByteBuffer {
        var body = ServerFrames.kickEventPrefix(sessionID: "s-2", timestamp: 7)
        body.writeString(#""Bob""# + (author.map { #","author":""# + $0 + #"""# } ?? "") + "}")
        return body
    }
    static let kick = RoomEvent(payload: ByteBuffer(string: "K" + String(buffer: kickBody(author: author))))!
    static let lock = RoomEvent.lock(ServerFrames.lock(locked: true))

    static let edit = RoomEvent.edit(RoomEvent.Position(StreamID(milliseconds: 8, sequence: 0)), body: ServerFrames.editBody(
        messageID: StreamID(milliseconds: 5, sequence: 1), text: "new", editedAt: 77))
    static let delete = RoomEvent.delete(RoomEvent.Position(StreamID(milliseconds: 9, sequence: 0)), body: ServerFrames.deleteBody(
        messageID: StreamID(milliseconds: 5, sequence: 1)))

    /// As ``ReactScript`` completes it: the prefix, then the quoted session and `,"on":true}` or `,"on":false}`.
    static let react: RoomEvent = {
        var body = ServerFrames.reactBodyPrefix(messageID: StreamID(milliseconds: 5, sequence: 1), emoji: "👍", username: "Ann")
        body.writeString(#""s-1","on":true}"#)
        return .react(RoomEvent.Position(StreamID(milliseconds: 10, sequence: 0)), body: body)
    }()

    static let typing = RoomEvent.typing(ServerFrames.typing(sessionID: "s-1", username: "Ann"), sender: ByteBuffer(string: "s-1"))

    @Test func kindsAreAllTested() throws {
        #expect(Set(try Self.everyKind().map(\.kind)) == Set(RoomEvent.Kind.allCases))
    }

    @Test func payloadRoundTripsForEveryKind() throws {
        for event in try Self.everyKind() {
            #expect(RoomEvent(payload: event.payload) == event)
        }
    }

    /// The bytes Echo's scripts publish today (and workers of the previous version read).
    @Test func payloadBytesArePinned() throws {
        #expect(String(buffer: try Self.chat("5-1", body: "{}").payload) == "C5-1 {}")
        #expect(String(buffer: Self.system.payload) == #"S{"sender":"System","message":"join","usersCount":2}"#)
        #expect(String(buffer: Self.typing.payload) == #"T{"type":"typing","sessionId":"s-1","username":"Ann"}"#)
        #expect(String(buffer: Self.edit.payload) == #"E8-0 {"messageId":"5-1","text":"new","editedAt":77}"#)
        #expect(String(buffer: Self.delete.payload) == #"X9-0 {"messageId":"5-1"}"#)
        #expect(String(buffer: Self.react.payload) == #"R10-0 {"messageId":"5-1","emoji":"👍","username":"Ann","sessionId":"s-1","on":true}"#)
        #expect(String(buffer: Self.kick.payload)
            == #"K{"sender":"System","message":"kick","sessionId":"s-2","timestamp":7,"username":"Bob","author":""# + Self.author + #""}"#)
        #expect(String(buffer: Self.lock.payload) == #"L{"type":"lock","locked":true}"#)
    }

    /// A kick names its target and, when it had one, the author hash, which no client is sent.
    @Test func kickCarriesItsTargetAndAuthorButRendersWithoutTheAuthor() throws {
        guard case .kick(_, let target, let author) = Self.kick else { Issue.record("not a kick"); return }
        #expect(String(buffer: target) == "s-2")
        #expect(author.map { String(buffer: $0) } == Self.author)
        let frame = String(buffer: ServerFrames.event(Self.kick))
        #expect(frame == #"{"sender":"System","message":"kick","sessionId":"s-2","timestamp":7,"username":"Bob"}"#)
        let anonymous = try #require(RoomEvent(payload: ByteBuffer(string: "K" + String(buffer: Self.kickBody(author: nil)))))
        guard case .kick(_, let target2, nil) = anonymous else { Issue.record("author in \(anonymous)"); return }
        #expect(String(buffer: target2) == "s-2")
        #expect(String(buffer: ServerFrames.event(anonymous)) == frame)
        // Not an author hash (not 64 lowercase hex digits): left in, rendered as sent, matched to no one.
        let odd = try #require(RoomEvent(payload: ByteBuffer(string: "K" + String(buffer: Self.kickBody(author: String(repeating: "Z", count: 64))))))
        guard case .kick(_, _, nil) = odd else { Issue.record("author in \(odd)"); return }
    }

    @Test func streamEntryRoundTripsForEveryStoredKind() throws {
        for event in try Self.everyKind() {
            guard let field = event.kind.streamField, let position = event.position else {
                #expect(event.id == nil)
                continue
            }
            let body = event.body
            // As XRANGE returns it: [id, [field, value]].
            let entry = RESPValue.array([.bulkString(position.text), .array([.bulkString(ByteBuffer(string: field)), .bulkString(body)])])
            #expect(RoomEvent(streamEntry: entry) == event)
        }
    }

    @Test func streamReadSkipsWhatDoesNotDecode() throws {
        let good = RESPValue.array([.bulkString(ByteBuffer(string: "2-0")), .array([.bulkString(ByteBuffer(string: "d")), .bulkString(ByteBuffer(string: "{}"))])])
        let reply = RESPValue.array([
            good,
            .array([.bulkString(ByteBuffer(string: "3-0")), .array([.bulkString(ByteBuffer(string: "z")), .bulkString(ByteBuffer(string: "{}"))])]),
            .array([.bulkString(ByteBuffer(string: "nope")), .array([.bulkString(ByteBuffer(string: "d")), .bulkString(ByteBuffer(string: "{}"))])]),
            .array([.bulkString(ByteBuffer(string: "4-0"))]),
            .integer(7), .null,
        ])
        #expect(RoomEvent.events(fromStream: reply).map(\.id) == [StreamID(milliseconds: 2, sequence: 0)])
        #expect(RoomEvent.events(fromStream: .null).isEmpty)
        #expect(RoomEvent.events(fromStream: .error("ERR")).isEmpty)
    }

    @Test(arguments: [
        "", "C", "C ", "C5-1", "C5-1 ", "C5-1 x", "C5-1 {", "Cx-1 {}", "C5-1-2 {}", "C {}", "C5-1{}",
        "S", "Sx", "S{", "X{}", "c5-1 {}", "\u{0}",
        // A typing event must name its sender, a session ID: it is not sent back to it.
        "T{}", #"T{"type":"typing"}"#, #"T{"type":"typing","sessionId":""}"#, #"T{"type":"typing","sessionId":"a b"}"#,
        #"T{"type":"typing","sessionId":"s1"#, "T5-1 {}",
        // A kick must name the kicked session; a lock is not kept.
        "K{}", #"K{"sender":"System","message":"kick"}"#, #"K{"sender":"System","message":"kick","sessionId":""}"#,
        #"K{"sender":"System","message":"join","sessionId":"s1"}"#, "L5-1 {}", "L",
    ])
    func payloadDecoderRefusesGarbage(_ text: String) {
        #expect(RoomEvent(payload: ByteBuffer(string: text)) == nil)
    }

    /// Random payloads from the format's own alphabet: whatever decodes renders to a JSON object.
    @Test func randomPayloadsDecodeOrAreRefusedAndRenderWhole() {
        let alphabet = Array("CSX {}-019\"x".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var decoded = 0
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var bytes: [UInt8] = []
            var bits = state
            for _ in 0..<Int(state >> 60) {
                bytes.append(alphabet[Int(bits % UInt64(alphabet.count))])
                bits /= UInt64(alphabet.count)
            }
            guard let event = RoomEvent(payload: ByteBuffer(bytes: bytes)) else { continue }
            decoded += 1
            let frame = ServerFrames.event(event)
            #expect(frame.readableBytesView.first == UInt8(ascii: "{") && frame.readableBytesView.last == UInt8(ascii: "}"))
            #expect(RoomEvent(payload: event.payload) == event)
        }
        #expect(decoded > 0)
    }

    @Test func payloadDecoderSlicesWithoutCopying() throws {
        let payload = try Self.chat().payload
        guard case .chat(let position, let body)? = RoomEvent(payload: payload) else {
            Issue.record("not decoded")
            return
        }
        // Slices of the received buffer: the fan-out path copies the body once, into the frame.
        func start(_ buffer: ByteBuffer) -> UnsafeRawPointer? { buffer.withUnsafeReadableBytes { $0.baseAddress } }
        let base = try #require(start(payload))
        #expect(start(position.text) == base + 1)
        #expect(start(body) == base + 1 + position.text.readableBytes + 1)
        #expect(position.id == StreamID(milliseconds: 1_700_000_000_000, sequence: 3))
    }

    /// What an Echo Chat client receives for each kind, byte for byte.
    @Test func renderedFramesArePinned() throws {
        #expect(String(buffer: ServerFrames.event(try Self.chat("9-1"))) == #"{"type":"chat","id":"9-1","messageId":"9-1","sender":"Ann","text":"hi"}"#)
        #expect(String(buffer: ServerFrames.event(try Self.chat("9-1", body: "{}"))) == #"{"type":"chat","id":"9-1","messageId":"9-1"}"#)
        #expect(String(buffer: ServerFrames.event(Self.system)) == #"{"sender":"System","message":"join","usersCount":2}"#)
        #expect(String(buffer: ServerFrames.event(Self.typing)) == #"{"type":"typing","sessionId":"s-1","username":"Ann"}"#)
        #expect(String(buffer: ServerFrames.event(Self.edit)) == #"{"type":"edit","id":"8-0","messageId":"5-1","text":"new","editedAt":77}"#)
        #expect(String(buffer: ServerFrames.event(Self.delete)) == #"{"type":"delete","id":"9-0","messageId":"5-1"}"#)
        #expect(String(buffer: ServerFrames.event(Self.react))
            == #"{"type":"react","id":"10-0","messageId":"5-1","emoji":"👍","username":"Ann","sessionId":"s-1","on":true}"#)
        #expect(String(buffer: ServerFrames.event(Self.lock)) == #"{"type":"lock","locked":true}"#)
    }

    /// Only the kinds Echo Chat's client does not know need a feature; typing is not kept.
    @Test func featuresAndSendersOfEachKind() throws {
        #expect(RoomEvent.Kind.allCases.filter { $0.feature != nil } == [.typing, .edit, .delete, .react, .kick, .lock])
        #expect(RoomEvent.Kind.kick.feature == .moderation && RoomEvent.Kind.lock.feature == .moderation)
        #expect(RoomEvent.Kind.kick.streamField == nil && RoomEvent.Kind.lock.streamField == nil)
        #expect(RoomEvent.Kind.edit.feature == .edit && RoomEvent.Kind.delete.feature == .edit)
        #expect(RoomEvent.Kind.react.feature == .react && RoomEvent.Kind.react.streamField == "r" && RoomEvent.Kind.react.tag == "R")
        #expect(RoomEvent.Kind.typing.streamField == nil)
        let decoded = try #require(RoomEvent(payload: Self.typing.payload))
        #expect(decoded.sender.map { String(buffer: $0) } == "s-1")
        #expect(try Self.chat().sender == nil && Self.system.sender == nil)
    }

    @Test func storedMessagesAreTheKeptKindsOnly() throws {
        let messages = StoredMessage.messages([try Self.chat("9-1"), Self.system, Self.typing, Self.kick, Self.lock])
        #expect(messages.map(\.id) == [StreamID(milliseconds: 9, sequence: 1)])
    }
}
