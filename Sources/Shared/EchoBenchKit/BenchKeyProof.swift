import EchoCore

/// The `e2e` object of a join into an end-to-end encrypted room (docs/protocol.md): the room's
/// verifier (an Ed25519 public key) and a proof that the joiner holds its private key (the
/// signature of ``RoomEncryption/signedMessage(roomID:nonce:)``, the connection's challenge).
/// echo-bench proves keys like Echo's page does; the signing itself is OpenSSL's
/// (`Crypto.ed25519Sign` in the Bench target), this type is the text.
public struct BenchKeyProof: Sendable, Equatable {
    /// base64url of the 32-byte public key (43 characters).
    public var verifier: String
    /// base64url of the 64-byte signature (86 characters).
    public var proof: String

    public init(publicKey: [UInt8], signature: [UInt8]) {
        precondition(publicKey.count == 32 && signature.count == 64, "an Ed25519 public key is 32 bytes, a signature 64")
        verifier = Base64URL.encode(publicKey)
        proof = Base64URL.encode(signature)
    }

    /// The room's private key (Ed25519 seed). A page derives it from the link's secret (HKDF,
    /// info `auth`); the bench has no link, so it derives 32 fixed bytes from the room id: every
    /// connection of a run's room proves the same key, as the members of one link do.
    public static func seed(roomID: String) -> [UInt8] {
        // FNV-1a of the room id seeds the expansion: distinct rooms get distinct keys.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in "echo-bench e2e\n\(roomID)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        var generator = SplitMix64(seed: hash)
        var seed: [UInt8] = []
        seed.reserveCapacity(32)
        for _ in 0..<4 {
            let word = generator.next()
            for shift in stride(from: 56, through: 0, by: -8) { seed.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return seed
    }
}
