@testable import EchoCore
import EchoShared
import EchoTLS
import NIOCore
import Testing

@Suite struct AuthorKeyTests {
    static let key = String(repeating: "A", count: 42) + "E"  // canonical: the last character's low 2 bits are 0
    static let keyBytes = [UInt8](repeating: 0, count: 31) + [0x01]

    @Test func aKeyIs43CanonicalBase64urlCharactersOf32Bytes() {
        #expect(AuthorKey(text: Self.key)?.bytes == Self.keyBytes)
        let all = AuthorKey(text: String(repeating: "_", count: 42) + "8")
        #expect(all?.bytes == [UInt8](repeating: 0xFF, count: 32))
        #expect(AuthorKey(text: String(repeating: "A", count: 42) + "B") == nil)  // non-canonical last character
        #expect(AuthorKey(text: String(repeating: "A", count: 42)) == nil)
        #expect(AuthorKey(text: String(repeating: "A", count: 44)) == nil)
        #expect(AuthorKey(text: String(repeating: "A", count: 42) + "=") == nil)
        #expect(AuthorKey(text: "+" + String(repeating: "A", count: 42)) == nil)  // base64, not base64url
        #expect(AuthorKey(text: "/" + String(repeating: "A", count: 42)) == nil)
        #expect(AuthorKey(text: "é" + String(repeating: "A", count: 41)) == nil)
    }

    @Test func aKeyNeverShowsInADescription() throws {
        let key = try #require(AuthorKey(text: Self.key))
        #expect("\(key)" == "AuthorKey(redacted)")
        let join = JoinRequest(roomID: "r", username: "u", action: .join, since: nil, authorKey: key)
        #expect(!"\(join)".contains(Self.key))
        #expect(!"\(join)".contains("16"))
    }

    /// RFC 4231, test case 2.
    @Test func hmacSHA256MatchesTheRFCVector() {
        let mac = Crypto.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Hex.encode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func theHashIsKeyedAndNeededASecret() throws {
        let key = try #require(AuthorKey(text: Self.key))
        #expect(AuthorHasher().hash(key) == nil)
        let a = AuthorHasher(secret: [UInt8](repeating: 1, count: 32))
        let b = AuthorHasher(secret: [UInt8](repeating: 2, count: 32))
        #expect(a.hash(key) == Hex.encode(Crypto.hmacSHA256(key: [UInt8](repeating: 1, count: 32), message: Self.keyBytes)))
        #expect(a.hash(key) != b.hash(key))
        #expect(a.hash(key)?.count == 64)
        #expect(Hex.decode(Hex.encode(Self.keyBytes)) == Self.keyBytes)
        #expect(Hex.decode("0g") == nil)
    }

    @Test func theJoinPayloadsAuthorKeyIsValidatedStrictly() throws {
        let join = try ClientRequest.parse(
            ByteBuffer(string: #"{"type":"join","payload":{"roomId":"room1234","username":"ann","authorKey":"\#(Self.key)"}}"#), limits: InputLimits())
        guard case .join(let request) = join else { Issue.record("not a join"); return }
        #expect(request.authorKey?.bytes == Self.keyBytes)
        #expect(throws: ProtocolError.self) {
            try ClientRequest.parse(ByteBuffer(string: #"{"type":"join","payload":{"roomId":"room1234","username":"ann","authorKey":"short"}}"#), limits: InputLimits())
        }
        #expect(throws: ProtocolError.self) {
            try ClientRequest.parse(ByteBuffer(string: #"{"type":"join","payload":{"roomId":"room1234","username":"ann","authorKey":5}}"#), limits: InputLimits())
        }
    }

    @Test func aJoinedMembersChatsCarryItsHashAndAKeylessOnesNone() throws {
        typealias Machine = ChatConnectionStateMachine
        let authors = AuthorHasher(secret: [UInt8](repeating: 7, count: 32))
        let configuration = Machine.Configuration(
            limits: InputLimits(), clientLimits: ChatConnectionStateMachineTests.clientLimits, maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 0,
            outboundLimitBytes: 1 << 20, joinTimeoutSeconds: 30, rateLimited: true, authors: authors)
        let t0 = ChatConnectionStateMachineTests.t0
        for key in [AuthorKey(text: Self.key), nil] {
            var machine = Machine(configuration: configuration, now: t0)
            let join = JoinRequest(roomID: "room1234", username: "ann", action: .join, since: nil, authorKey: key)
            guard case .join(_, let membership, let generation, _)? = machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s1", now: t0).last
            else { Issue.record("no join"); return }
            #expect(membership.authorHash == key.flatMap { authors.hash($0) })
            _ = machine.joinCompleted(generation: generation, .joined(messages: [], recovered: nil))
            let actions = machine.frameReceived(.text, payload: ByteBuffer(string: #"{"type":"chat","payload":{"message":"hi"}}"#), now: t0)
            guard case .storeEvent(_, .chat, let body, _, let author)? = actions.last else { Issue.record("no store in \(actions)"); return }
            #expect(author == membership.authorHash)
            #expect(!String(buffer: body).contains(Self.key))
        }
    }
}
