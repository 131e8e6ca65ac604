import EchoTLS
import Testing

/// Ed25519 through OpenSSL against RFC 8032's test vectors (section 7.1): the key proof of an
/// end-to-end encrypted room rests on these three calls.
@Suite struct Ed25519Tests {
    struct Vector: Sendable {
        var seed: String
        var publicKey: String
        var message: String
        var signature: String
    }

    static let vectors = [
        Vector(  // TEST 1: the empty message
            seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            message: "",
            signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        Vector(  // TEST 2: one byte
            seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            message: "72",
            signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ]

    @Test(arguments: vectors)
    func publicKeySignatureAndVerification(_ v: Vector) throws {
        let seed = try #require(Hex.decode(v.seed))
        let message = try #require(Hex.decode(v.message))
        #expect(Crypto.ed25519PublicKey(seed: seed).map(Hex.encode) == v.publicKey)
        #expect(Crypto.ed25519Sign(seed: seed, message: message).map(Hex.encode) == v.signature)
        let publicKey = try #require(Hex.decode(v.publicKey))
        let signature = try #require(Hex.decode(v.signature))
        #expect(Crypto.ed25519Verify(publicKey: publicKey, signature: signature, message: message))
    }

    @Test func aChangedByteOrAnotherKeyFails() throws {
        let v = Self.vectors[1]
        let publicKey = try #require(Hex.decode(v.publicKey))
        let signature = try #require(Hex.decode(v.signature))
        #expect(!Crypto.ed25519Verify(publicKey: publicKey, signature: signature, message: [0x73]))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!Crypto.ed25519Verify(publicKey: publicKey, signature: flipped, message: [0x72]))
        let other = try #require(Hex.decode(Self.vectors[0].publicKey))
        #expect(!Crypto.ed25519Verify(publicKey: other, signature: signature, message: [0x72]))
        #expect(!Crypto.ed25519Verify(publicKey: Array(publicKey.prefix(31)), signature: signature, message: [0x72]))
        #expect(!Crypto.ed25519Verify(publicKey: publicKey, signature: Array(signature.prefix(63)), message: [0x72]))
    }
}
