@testable import EchoCore
import EchoShared
import EchoTLS
import NIOCore
import Testing

/// End-to-end encrypted rooms without I/O: the challenge, the key proof a join carries (checked
/// with real Ed25519 signatures), what the join script is given, the `session` frame, and the
/// rule that an encrypted room's members send ciphertext only (and a plain room's never).
extension ChatConnectionStateMachineTests {
    static let nonce = [UInt8](repeating: 7, count: RoomEncryption.nonceByteCount)
    static let roomSeed = [UInt8](repeating: 3, count: 32)
    static let encryptionConfiguration = Machine.Configuration(
        limits: InputLimits(), clientLimits: clientLimits, maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 0, outboundLimitBytes: 1 << 20,
        joinTimeoutSeconds: 30, rateLimited: true, authors: moderationAuthors, makeNonce: { nonce })

    /// The verifier and the proof a client holding `seed` sends for `roomID` and `nonce`.
    static func e2e(seed: [UInt8] = roomSeed, roomID: String, nonce: [UInt8] = nonce) throws -> (verifier: String, json: String) {
        let verifier = Base64URL.encode(try #require(Crypto.ed25519PublicKey(seed: seed)))
        let signature = try #require(Crypto.ed25519Sign(seed: seed, message: RoomEncryption.signedMessage(roomID: roomID, nonce: Base64URL.encode(nonce))))
        return (verifier, #","e2e":{"verifier":"\#(verifier)","proof":"\#(Base64URL.encode(signature))"}"#)
    }

    func frame(_ json: String, _ machine: inout Machine) -> [Action] {
        machine.frameReceived(.text, payload: ByteBuffer(string: json), now: Self.t0)
    }

    @Test func aChallengeGivesANonceThatTheNextJoinSigns() throws {
        var machine = Machine(configuration: Self.encryptionConfiguration, now: Self.t0)
        let challenge = frame(#"{"type":"challenge"}"#, &machine)
        #expect(challenge == [.write(WebSocketWire.text(ServerFrames.challenge(nonce: Base64URL.encode(Self.nonce))), flush: true)])
        let proof = try Self.e2e(roomID: room)
        let join = try #require(moderationJoin(proof.json, &machine))
        #expect(join.request.keyProof?.verifier == proof.verifier)
        guard case .joining(let pending)? = machine.connection?.room else { throw ProtocolError(.internalError, "not joining") }
        #expect(pending.membership.verifier == proof.verifier)
        // Joined: the session says the room is encrypted and how large a ciphertext may be.
        let session = try #require(sessionJSON(machine.joinCompleted(generation: join.generation, .joined(messages: [], recovered: nil))))
        #expect(session.contains(#""ciphertextBytes":\#(Self.clientLimits.imageBytes + 16384)},"encrypted":true"#), "\(session)")
    }

    @Test func aProofWithoutAChallengeOrOfAnotherRoomNonceOrKeyIsRefused() throws {
        let refused = { (text: String) in Self.error(ProtocolError(.badKeyProof, text)) }
        let noChallenge = "Ask for a challenge before joining an encrypted room."
        let mismatch = "The key proof does not match this room and challenge."
        for (challenge, proof, expected) in [
            (false, try Self.e2e(roomID: room).json, refused(noChallenge)),
            (true, try Self.e2e(roomID: "another-room").json, refused(mismatch)),
            (true, try Self.e2e(roomID: room, nonce: Array(repeating: 8, count: 32)).json, refused(mismatch)),
        ] {
            var machine = Machine(configuration: Self.encryptionConfiguration, now: Self.t0)
            if challenge { _ = frame(#"{"type":"challenge"}"#, &machine) }
            #expect(frame(#"{"type":"join","payload":{"roomId":"\#(room)","username":"ann"\#(proof)}}"#, &machine) == expected)
        }
        // A proof by another key than the one it names: the signature is not the verifier's.
        var machine = Machine(configuration: Self.encryptionConfiguration, now: Self.t0)
        _ = frame(#"{"type":"challenge"}"#, &machine)
        let mine = try Self.e2e(roomID: room)
        let theirs = try Self.e2e(seed: Array(repeating: 4, count: 32), roomID: room)
        let forged = theirs.json.replacingOccurrences(of: theirs.verifier, with: mine.verifier)
        #expect(frame(#"{"type":"join","payload":{"roomId":"\#(room)","username":"ann"\#(forged)}}"#, &machine) == refused(mismatch))
    }

    @Test func aChallengeCountsOnceWhateverTheJoinCameTo() throws {
        var machine = Machine(configuration: Self.encryptionConfiguration, now: Self.t0)
        _ = frame(#"{"type":"challenge"}"#, &machine)
        let proof = try Self.e2e(roomID: room).json
        #expect(moderationJoin(proof, &machine) != nil)
        // The same proof again, without a new challenge: refused.
        #expect(frame(#"{"type":"join","payload":{"roomId":"\#(room)","username":"ann"\#(proof)}}"#, &machine)
            == Self.error(ProtocolError(.badKeyProof, "Ask for a challenge before joining an encrypted room.")))
        // A plain join uses it up too.
        _ = frame(#"{"type":"challenge"}"#, &machine)
        _ = frame(#"{"type":"join","payload":{"roomId":"\#(room)","username":"ann"}}"#, &machine)
        #expect(frame(#"{"type":"join","payload":{"roomId":"\#(room)","username":"ann"\#(proof)}}"#, &machine)
            == Self.error(ProtocolError(.badKeyProof, "Ask for a challenge before joining an encrypted room.")))
    }

    @Test func theJoinScriptsRefusalsBecomeTheirErrors() throws {
        for (why, code) in [(JoinRefusal.keyRequired, ProtocolError.Code.keyRequired), (.wrongKey, .badKeyProof), (.notEncrypted, .roomNotEncrypted), (.locked, .roomLocked)] {
            var machine = Machine(configuration: Self.encryptionConfiguration, now: Self.t0)
            let join = try #require(moderationJoin("", &machine))
            let actions = machine.joinCompleted(generation: join.generation, .refused(why))
            #expect(actions.first == .removeMember(room: room))
            guard case .count(.error(let counted))? = actions.dropFirst().first else { Issue.record("\(actions)"); continue }
            #expect(counted == code)
            #expect(machine.joinedMembership == nil)
        }
    }

    /// A machine joined to an encrypted room (`encrypted`) or a plain one.
    func machineJoined(encrypted: Bool) throws -> Machine {
        var machine = Machine(configuration: Self.encryptionConfiguration, now: Self.t0)
        _ = frame(#"{"type":"challenge"}"#, &machine)
        let join = try #require(moderationJoin(#","authorKey":"\#(Self.authorKeyText)""# + (encrypted ? try Self.e2e(roomID: room).json : ""), &machine))
        _ = machine.joinCompleted(generation: join.generation, .joined(messages: [], recovered: nil))
        return machine
    }

    static let sealedChat = #"{"type":"chat","payload":{"ciphertext":"\#(String(repeating: "Q", count: 40))","iv":"AAAAAAAAAAAAAAAA","clientId":"c1"}}"#
    static let sealedEdit = #"{"type":"edit","payload":{"messageId":"1-0","ciphertext":"\#(String(repeating: "Q", count: 40))","iv":"AAAAAAAAAAAAAAAA"}}"#
    static let sealedReact = #"{"type":"react","payload":{"messageId":"1-0","emoji":"\#(String(repeating: "Q", count: 40))"}}"#

    @Test func anEncryptedRoomTakesCiphertextOnlyAndStoresItUntouched() throws {
        var machine = try machineJoined(encrypted: true)
        guard case .storeEvent(_, .chat, let body, "c1", _)? = frame(Self.sealedChat, &machine).last else { throw ProtocolError(.internalError, "no store") }
        let stored = String(decoding: body.readableBytesView, as: UTF8.self)
        #expect(stored == #"{"sender":"ann","sessionId":"s1","ciphertext":"\#(String(repeating: "Q", count: 40))","iv":"AAAAAAAAAAAAAAAA","timestamp":\#(Self.t0.wallMilliseconds),"clientId":"c1"}"#)
        guard case .amendEvent(_, .edit, _, let edit, _, _)? = frame(Self.sealedEdit, &machine).last else { throw ProtocolError(.internalError, "no edit") }
        #expect(String(decoding: edit.readableBytesView, as: UTF8.self).contains(#""ciphertext":"QQQ"#))
        guard case .reactEvent(_, _, let emoji, _, _, _)? = frame(Self.sealedReact, &machine).last else { throw ProtocolError(.internalError, "no react") }
        #expect(emoji == String(repeating: "Q", count: 40))
        // Plaintext is refused, so nothing readable reaches the room's storage.
        for plain in [
            #"{"type":"chat","payload":{"message":"hello","clientId":"c2"}}"#,
            #"{"type":"edit","payload":{"messageId":"1-0","text":"hello"}}"#,
            #"{"type":"react","payload":{"messageId":"1-0","emoji":"👍"}}"#,
        ] {
            guard case .write(let frame, _)? = frame(plain, &machine).last else { Issue.record("\(plain)"); continue }
            #expect(String(decoding: frame.readableBytesView, as: UTF8.self).contains("INVALID_PAYLOAD"), "\(plain)")
        }
    }

    @Test func aPlainRoomRefusesCiphertext() throws {
        var machine = try machineJoined(encrypted: false)
        for sealed in [Self.sealedChat, Self.sealedEdit, Self.sealedReact] {
            guard case .write(let frame, _)? = frame(sealed, &machine).last else { Issue.record("\(sealed)"); continue }
            #expect(String(decoding: frame.readableBytesView, as: UTF8.self).contains("INVALID_PAYLOAD"), "\(sealed)")
        }
    }
}
