@testable import EchoBenchKit
import EchoCore
import EchoTLS
import Foundation
import Testing

/// Issue 14 in the generator (`--encrypted`): the requests of an encrypted room's join and chats,
/// and the stamps inside ciphertexts.
@Suite("echo-bench: end-to-end encrypted rooms")
struct BenchEncryptionTests {
    // MARK: key proof and join

    @Test func randomBase64URLHasTheAskedLengthAndIsCanonical() throws {
        var generator = SplitMix64(seed: 7)
        var bytes: [UInt8] = Array("x".utf8)
        BenchChatRequest.appendRandomBase64URL(count: 36, to: &bytes, using: &generator)
        #expect(bytes.count == 37)
        let text = String(decoding: bytes.dropFirst(), as: UTF8.self)
        #expect(try #require(Base64URL.decode(text)).count == 27)
        var other: [UInt8] = []
        BenchChatRequest.appendRandomBase64URL(count: 36, to: &other, using: &generator)
        #expect(Array(bytes.dropFirst()) != other)
    }

    @Test func eachRoomHasItsOwnFixedSeed() {
        let seed = BenchKeyProof.seed(roomID: "benchab-0")
        #expect(seed.count == 32)
        #expect(BenchKeyProof.seed(roomID: "benchab-0") == seed)
        #expect(BenchKeyProof.seed(roomID: "benchab-1") != seed)
    }

    /// The proof the bench sends (signed as the handler signs it) is one the server's own check
    /// (`RoomKeyProof`, what a worker reads from a join's `e2e`) accepts for this room and
    /// challenge, and refuses for any other.
    @Test func theServersCheckAcceptsTheProofForThisChallengeOnly() throws {
        let room = "benchkey-3"
        let nonceBytes = Array(repeating: UInt8(0xA5), count: RoomEncryption.nonceByteCount)
        let nonce = Base64URL.encode(nonceBytes)
        let seed = BenchKeyProof.seed(roomID: room)
        let publicKey = try #require(Crypto.ed25519PublicKey(seed: seed))
        let signature = try #require(Crypto.ed25519Sign(seed: seed, message: RoomEncryption.signedMessage(roomID: room, nonce: nonce)))
        let proof = BenchKeyProof(publicKey: publicKey, signature: signature)
        #expect(proof.verifier.count == 43 && proof.proof.count == 86)
        let checked = try #require(RoomKeyProof(verifier: proof.verifier, proof: proof.proof))
        #expect(checked.verifier == proof.verifier)
        #expect(checked.proves(roomID: room, nonce: nonceBytes))
        #expect(!checked.proves(roomID: "benchkey-4", nonce: nonceBytes))
        #expect(!checked.proves(roomID: room, nonce: Array(repeating: 0xA4, count: RoomEncryption.nonceByteCount)))
        // Another room's members prove another key.
        let other = try #require(Crypto.ed25519PublicKey(seed: BenchKeyProof.seed(roomID: "benchkey-4")))
        #expect(other != publicKey)
    }

    static func json(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func joinCarriesTheProofOnlyInEncryptedRooms() throws {
        let plain = try Self.json(BenchRequest.join(roomID: "benchx-1", username: "u7", action: "create"))
        #expect(plain["type"] as? String == "join")
        let payload = try #require(plain["payload"] as? [String: Any])
        #expect(payload["roomId"] as? String == "benchx-1" && payload["username"] as? String == "u7" && payload["action"] as? String == "create")
        #expect(payload["e2e"] == nil)
        #expect(String(decoding: BenchRequest.join(roomID: "r", username: "u", action: "join"), as: UTF8.self)
            == #"{"type":"join","payload":{"roomId":"r","username":"u","action":"join"}}"#)

        let proof = BenchKeyProof(publicKey: Array(repeating: 1, count: 32), signature: Array(repeating: 2, count: 64))
        let encrypted = try Self.json(BenchRequest.join(roomID: "benchx-1", username: "u7", action: "create", proof: proof))
        let e2e = try #require((encrypted["payload"] as? [String: Any])?["e2e"] as? [String: String])
        #expect(e2e == ["verifier": proof.verifier, "proof": proof.proof])
        #expect(try Self.json(BenchRequest.challenge) as? [String: String] == ["type": "challenge"])
    }

    // MARK: chats and stamps

    @Test func plainChatIsTheStampedTextAsBefore() {
        var generator = SplitMix64(seed: 1)
        let chat = BenchChatRequest(roomID: "benchp-0", messageSize: 100, encrypted: false, using: &generator)
        let stamp = BenchStamp(sender: 3, sequence: 9, measured: true, sentAtNanoseconds: 123_456)
        var bytes: [UInt8] = []
        chat.write(stamp, into: &bytes, using: &generator)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"type":"chat","payload":{"roomId":"benchp-0","message":""# + stamp.text(size: 100) + #""}}"#)
    }

    @Test(arguments: [100, 101, 1, 2000])
    func encryptedChatCarriesABase64URLCiphertextAsLongAsThePlainText(messageSize: Int) throws {
        var generator = SplitMix64(seed: 2)
        let chat = BenchChatRequest(roomID: "benche-0", messageSize: messageSize, encrypted: true, using: &generator)
        let stamp = BenchStamp(sender: 42, sequence: 1_234_567, measured: true, sentAtNanoseconds: 987_654_321_012_345)
        var bytes: [UInt8] = Array("left over from the last send".utf8)
        chat.write(stamp, into: &bytes, using: &generator)
        let request = try Self.json(bytes)
        #expect(request["type"] as? String == "chat")
        let payload = try #require(request["payload"] as? [String: String])
        #expect(Set(payload.keys) == ["roomId", "ciphertext", "iv"])
        let ciphertext = try #require(payload["ciphertext"])
        let iv = try #require(payload["iv"])
        // As long as the plain run's text, in whole base64url quads, never under 17 decoded bytes;
        // a stamp (here 32 characters) longer than that is written whole.
        #expect(ciphertext.utf8.count == max(BenchChatRequest.ciphertextLength(messageSize: messageSize), 32))
        // Canonical base64url as the server reads it, of at least a tag and a byte; a 12-byte IV.
        #expect(ciphertext.utf8.count % 4 == 0)
        #expect(try #require(Base64URL.decodedCount(ciphertext)) >= RoomEncryption.tagByteCount + 1)
        #expect(iv.utf8.count == 16 && Base64URL.decode(iv)?.count == RoomEncryption.ivByteCount)
        #expect(ciphertext.hasPrefix("_b_42_1234567_m_987654321012345_"))

        // The stamp comes back out of the frame the server fans out.
        let frame = #"{"type":"chat","id":"1700000000000-0","messageId":"m1","sender":"u_b_1","sessionId":"_b_9_9_m_9_","ciphertext":"\#(ciphertext)","iv":"\#(iv)","timestamp":1,"clientId":null}"#
        #expect(Array(frame.utf8).withUnsafeBytes { BenchStamp.find(in: $0, encoding: .ciphertext) } == stamp)
        #expect(Array(frame.utf8).withUnsafeBytes { BenchFrame.classify($0, expectingHistory: false, stamps: .ciphertext) } == .chat(stamp))
        // A plain run does not read ciphertext stamps, nor an encrypted run plain ones.
        #expect(Array(frame.utf8).withUnsafeBytes { BenchStamp.find(in: $0) } == nil)
        let plainFrame = #"{"type":"chat","sessionId":"s","text":"\#(stamp.text(size: 60))"}"#
        #expect(Array(plainFrame.utf8).withUnsafeBytes { BenchStamp.find(in: $0, encoding: .ciphertext) } == nil)
    }

    @Test func ciphertextLengthRoundsUpToQuadsAndTheMinimum() {
        #expect(BenchChatRequest.ciphertextLength(messageSize: 100) == 100)
        #expect(BenchChatRequest.ciphertextLength(messageSize: 101) == 104)
        #expect(BenchChatRequest.ciphertextLength(messageSize: 1) == 24)
    }

    @Test func theChallengeIsReadWithItsNonce() {
        func classify(_ text: String) -> BenchFrame {
            Array(text.utf8).withUnsafeBytes { BenchFrame.classify($0, expectingHistory: false, stamps: .ciphertext) }
        }
        #expect(classify(#"{"type":"challenge","nonce":"AbC-_9"}"#) == .challenge(nonce: "AbC-_9"))
        #expect(classify(#"{"type":"error","code":"BAD_KEY_PROOF","message":"the challenge was not signed by the room's key"}"#) == .error(code: "BAD_KEY_PROOF"))
        #expect(classify(#"{"type":"challenge"}"#) == .other)
        #expect(classify(#"{"type":"session","sessionId":"s","encrypted":true}"#) == .session)
    }
}
