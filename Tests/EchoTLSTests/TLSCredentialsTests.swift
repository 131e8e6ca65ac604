import EchoTLS
import Testing

@Suite("TLS credentials check")
struct TLSCredentialsTests {
    @Test("a matching certificate and key load, and the summary names the leaf")
    func matching() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("a", commonName: "chat.test", serial: "0xABC123")
        let summary = try TLSCredentials.check(certificateChain: certificate, privateKey: key)
        #expect(summary.serial == "ABC123")
        #expect(summary.subject.contains("CN=chat.test"))
        #expect(!summary.notAfter.isEmpty)
    }

    @Test("a key of another certificate is refused, with OpenSSL's reason")
    func mismatched() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, _) = try files.selfSigned("a")
        let (_, otherKey) = try files.selfSigned("b")
        let error = try #require(throws: TLSError.self) {
            try TLSCredentials.check(certificateChain: certificate, privateKey: otherKey)
        }
        #expect(error.description.contains("does not match"))
        #expect(!error.reasons.isEmpty)
    }

    @Test("a missing or garbled file is refused, naming it")
    func unreadable() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("a")
        #expect(throws: TLSError.self) { try TLSCredentials.check(certificateChain: files.path("none.crt"), privateKey: key) }
        try "not a certificate".write(toFile: files.path("junk.crt"), atomically: true, encoding: .utf8)
        let error = try #require(throws: TLSError.self) {
            try TLSCredentials.check(certificateChain: files.path("junk.crt"), privateKey: key)
        }
        #expect(error.description.contains("junk.crt"))
        _ = certificate
    }
}
