@testable import EchoCore
import NIOCore
import NIOHTTP1
import NIOWebSocket
import Testing

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

    @Test func joinFeaturesAreTheGrantedSubsetAndAbsentMeansNone() throws {
        func features(_ field: String) throws -> ChatFeatures?? {
            guard case .join(let j) = try parse(#"{"type":"join","payload":{"roomId":"room1234","username":"u"\#(field)}}"#) else { return nil }
            return .some(j.features)
        }
        #expect(try features("") == .some(nil))
        #expect(try features(#","features":[]"#) == .some([]))
        #expect(try features(#","features":["typing","edit","react","moderation","x"]"#) == .some([.typing, .edit, .react, .moderation]))
        #expect(ChatFeatures([.typing, .edit, .react]).names == ["typing", "edit", "react"])
        #expect(try features(#","features":["nope"]"#) == .some([]))
        #expect(ChatFeatures.typing.names == ["typing"] && ChatFeatures([]).names == [])
    }

    @Test func joinFeaturesMustBeAShortListOfShortStrings() {
        let base = #"{"type":"join","payload":{"roomId":"room1234","username":"u","features":"#
        #expect(code(base + #""typing"}}"#) == .invalidPayload)
        #expect(code(base + #"[1]}}"#) == .invalidPayload)
        #expect(code(base + #"{"typing":true}}}"#) == .invalidPayload)
        #expect(code(base + "[" + Array(repeating: #""typing""#, count: 9).joined(separator: ",") + "]}}") == .invalidPayload)
        #expect(code(base + "[" + Array(repeating: #""typing""#, count: 8).joined(separator: ",") + "]}}") == nil)
        #expect(code(base + #"[""# + String(repeating: "a", count: 33) + #""]}}"#) == .invalidPayload)
    }

    /// The last one is exactly 16 bytes (a thumb and six combining accents: one grapheme).
    @Test(arguments: ["👍", "❤️", "🇫🇷", "👍🏽", "❤️‍🔥", "1️⃣", "é", "a", "*", "👍" + String(repeating: "\u{301}", count: 6)])
    func aReactionIsOneGraphemeOfAtMost16Bytes(_ emoji: String) throws {
        #expect(try parse(#"{"type":"react","payload":{"messageId":"5-1","emoji":"\#(emoji)"}}"#)
            == .react(ReactRequest(messageID: StreamID(milliseconds: 5, sequence: 1), emoji: emoji)))
    }

    @Test(arguments: [
        "", "👍👍", "ab", " ", "\\n", "\\u0000", "\\u200d", "\\u00a0", "👍 ",
        // One grapheme, but more than 16 bytes: families of three (18 bytes) and four (25), the flag of England (28).
        "👨‍👩‍👧", "👨‍👩‍👧‍👦", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "a" + String(repeating: "\u{301}", count: 8),
    ])
    func aReactionThatIsNotOneShortSymbolIsRefused(_ emoji: String) {
        #expect(code(#"{"type":"react","payload":{"messageId":"5-1","emoji":"\#(emoji)"}}"#) == .invalidPayload)
    }

    @Test func aReactionNeedsAMessageIDAndAnEmoji() {
        #expect(code(#"{"type":"react","payload":{"emoji":"👍"}}"#) == .invalidPayload)
        #expect(code(#"{"type":"react","payload":{"messageId":"x","emoji":"👍"}}"#) == .invalidPayload)
        #expect(code(#"{"type":"react","payload":{"messageId":"5-1"}}"#) == .invalidPayload)
        #expect(code(#"{"type":"react","payload":{"messageId":"5-1","emoji":7}}"#) == .invalidPayload)
    }

    @Test func typingParses() throws {
        #expect(try parse(#"{"type":"typing"}"#) == .typing)
        #expect(try parse(#"{"type":"typing","payload":{}}"#) == .typing)
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

/// The rules of an encrypted room's fields: canonical base64url, sizes, and no plaintext beside
/// a ciphertext.
@Suite struct SealedRequestTests {
    let limits = InputLimits()

    func parse(_ json: String) -> Result<ClientRequest, ProtocolError> {
        Result { () throws(ProtocolError) in try ClientRequest.parse(ByteBuffer(string: json), limits: limits) }
    }

    func code(_ json: String) -> ProtocolError.Code? {
        if case .failure(let error) = parse(json) { return error.code }
        return nil
    }

    @Test func base64URLIsCanonicalAndRoundTrips() {
        for count in 0...40 {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64URL.encode(bytes)
            #expect(Base64URL.decode(text) == bytes)
            #expect(Base64URL.decodedCount(text) == count)
        }
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("QR") == nil, "non-zero unused bits: a second spelling")
        #expect(Base64URL.decodedCount("QR") == nil)
        #expect(Base64URL.decodedCount("QUE") == 2)
        #expect(Base64URL.decodedCount("QUF") == nil)
        #expect(Base64URL.decode("Q") == nil)
        #expect(Base64URL.decodedCount("QUFB=") == nil, "no padding")
        #expect(Base64URL.decodedCount("QU+B") == nil, "base64's alphabet is not base64url's")
    }

    @Test func aSealedChatIsCiphertextAndIVOnly() {
        let ct = String(repeating: "A", count: 24)  // 18 bytes: a tag and two
        guard case .success(.chat(let chat)) = parse(#"{"type":"chat","payload":{"ciphertext":"\#(ct)","iv":"AAAAAAAAAAAAAAAA"}}"#) else {
            Issue.record("not parsed")
            return
        }
        #expect(chat.sealed == SealedPayload(ciphertext: ct, iv: "AAAAAAAAAAAAAAAA"))
        #expect(chat.text == nil && chat.image == nil && chat.replyTo == nil)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(ct)","iv":"AAAAAAAAAAAAAAAA","message":"hi"}}"#) == .invalidPayload)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(ct)","iv":"AAAAAAAAAAAAAAAA","replyTo":{"messageId":"1-0","sender":"a"}}}"#) == .invalidPayload)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(ct)"}}"#) == .invalidPayload)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(ct)","iv":"AAAAAAAAAAAAAAA"}}"#) == .invalidPayload, "an 11-byte IV")
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(ct)+","iv":"AAAAAAAAAAAAAAAA"}}"#) == .invalidPayload)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"AAAAAAAAAAAAAAAAAAAAAA","iv":"AAAAAAAAAAAAAAAA"}}"#) == .emptyMessage, "a bare tag")
        let tooLarge = String(repeating: "A", count: (limits.maxSealedChatBytes + 3) / 3 * 4)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(tooLarge)","iv":"AAAAAAAAAAAAAAAA"}}"#) == .messageTooLong)
        let largest = String(repeating: "A", count: limits.maxSealedChatBytes / 3 * 4)
        #expect(code(#"{"type":"chat","payload":{"ciphertext":"\#(largest)","iv":"AAAAAAAAAAAAAAAA"}}"#) == nil, "a 3 MiB image fits")
    }

    @Test func aSealedEditAndReactionToken() {
        let ct = String(repeating: "A", count: 24)
        guard case .success(.edit(let edit)) = parse(#"{"type":"edit","payload":{"messageId":"1-0","ciphertext":"\#(ct)","iv":"AAAAAAAAAAAAAAAA"}}"#) else {
            Issue.record("not parsed")
            return
        }
        #expect(edit.sealed?.ciphertext == ct && edit.text == nil)
        #expect(code(#"{"type":"edit","payload":{"messageId":"1-0","ciphertext":"\#(ct)","iv":"AAAAAAAAAAAAAAAA","text":"x"}}"#) == .invalidPayload)
        let tooLarge = String(repeating: "A", count: 16388 / 3 * 4)
        #expect(code(#"{"type":"edit","payload":{"messageId":"1-0","ciphertext":"\#(tooLarge)","iv":"AAAAAAAAAAAAAAAA"}}"#) == .messageTooLong)
        // A token is 12 + 1...16 + 16 bytes: 39 to 59 characters.
        for (length, sealed) in [(39, true), (59, true), (38, nil), (60, nil)] as [(Int, Bool?)] {
            let result = parse(#"{"type":"react","payload":{"messageId":"1-0","emoji":"\#(String(repeating: "A", count: length))"}}"#)
            if case .success(.react(let react)) = result { #expect(react.sealed == sealed, "\(length)") } else { #expect(sealed == nil, "\(length)") }
        }
        if case .success(.react(let react)) = parse(#"{"type":"react","payload":{"messageId":"1-0","emoji":"👍"}}"#) { #expect(!react.sealed) }
    }

    @Test func aJoinsKeyProofIsTwoCanonicalStrings() {
        let verifier = String(repeating: "A", count: 43)
        let proof = String(repeating: "A", count: 86)
        if case .success(.join(let join)) = parse(#"{"type":"join","payload":{"roomId":"room-1234","username":"a","e2e":{"verifier":"\#(verifier)","proof":"\#(proof)"}}}"#) {
            #expect(join.keyProof?.verifier == verifier)
        } else {
            Issue.record("not parsed")
        }
        for e2e in [#""x""#, #"{}"#, #"{"verifier":"\#(verifier)"}"#, #"{"verifier":"\#(verifier)B","proof":"\#(proof)"}"#, #"{"verifier":"\#(verifier)","proof":"\#(proof.dropLast())"}"#] {
            #expect(code(#"{"type":"join","payload":{"roomId":"room-1234","username":"a","e2e":\#(e2e)}}"#) == .invalidPayload, "\(e2e)")
        }
        #expect(parse(#"{"type":"challenge"}"#) == .success(.challenge))
    }
}
