import EchoTLS

/// An end-to-end encrypted room (docs/security.md, End-to-end encrypted rooms): the key lives in
/// the link's fragment and never reaches the server. The room stores a verifier, the Ed25519
/// public key the link's key derives; a member proves it holds the key by signing the
/// connection's challenge. The server checks the signature and stores and forwards ciphertext.
public enum RoomEncryption {
    /// The challenge's random bytes (its `nonce`, base64url).
    public static let nonceByteCount = 32
    /// A message's IV: AES-GCM's 96 bits.
    public static let ivByteCount = 12
    /// AES-GCM's tag: every ciphertext is at least this plus one byte.
    public static let tagByteCount = 16
    /// The room-info marker of an encrypted room: `v:` + its verifier (a plain room's is `1`).
    public static func infoMarker(verifier: String?) -> String {
        verifier.map { "v:" + $0 } ?? "1"
    }

    /// What a joining client signs: the room and the connection's challenge, so a proof cannot be
    /// replayed on another connection or into another room.
    public static func signedMessage(roomID: String, nonce: String) -> [UInt8] {
        Array("echo-e2e-v1 join\n\(roomID)\n\(nonce)".utf8)
    }
}

/// A join's `e2e`: the room's verifier (base64url Ed25519 public key) and the signature of the
/// connection's challenge (``RoomEncryption/signedMessage(roomID:nonce:)``).
public struct RoomKeyProof: Sendable, Equatable {
    /// The verifier as the client spelled it (canonical base64url, so one key has one spelling):
    /// what the room stores and compares.
    public let verifier: String
    let publicKey: [UInt8]
    let signature: [UInt8]

    public init?(verifier: String, proof: String) {
        guard verifier.utf8.count == 43, let publicKey = Base64URL.decode(verifier), publicKey.count == 32,
              proof.utf8.count == 86, let signature = Base64URL.decode(proof), signature.count == 64 else { return nil }
        self.verifier = verifier
        self.publicKey = publicKey
        self.signature = signature
    }

    /// Whether the signature is the verifier's, of this room and challenge.
    public func proves(roomID: String, nonce: [UInt8]) -> Bool {
        Crypto.ed25519Verify(
            publicKey: publicKey, signature: signature,
            message: RoomEncryption.signedMessage(roomID: roomID, nonce: Base64URL.encode(nonce)))
    }
}

/// A chat's or an edit's encrypted content in an encrypted room: `ciphertext` and `iv`, both
/// canonical base64url, checked for size only (the server cannot read them) and stored untouched.
public struct SealedPayload: Sendable, Equatable {
    public var ciphertext: String
    public var iv: String
}
