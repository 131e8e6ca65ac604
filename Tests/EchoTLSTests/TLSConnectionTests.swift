@testable import EchoTLS
import Testing

/// Two TLSConnections, a server and a client, talking through memory: every byte one produces
/// is handed to the other, so these tests drive real OpenSSL handshakes without sockets.
struct TLSPair {
    let server: TLSConnection
    let client: TLSConnection

    init(server context: TLSServerContext, client clientContext: TLSClientContext, serverName: String = "localhost", session: TLSSession? = nil) throws {
        server = try TLSConnection(server: context)
        client = try TLSConnection(client: clientContext, serverName: serverName, session: session)
    }

    /// Moves everything `from` has to send into `to`; the count of bytes moved.
    @discardableResult
    static func transfer(from: TLSConnection, to: TLSConnection) -> Int {
        from.drainCiphertext { bytes in
            to.receive(bytes)
            return bytes.count
        } ?? 0
    }

    /// Steps both handshakes until both finish; the first error of each side otherwise.
    func handshake() -> (client: TLSError?, server: TLSError?) {
        var clientError: TLSError?, serverError: TLSError?
        for _ in 0..<10 {
            var done = 0
            if clientError == nil {
                do { if try client.handshake() == .complete { done += 1 } } catch { clientError = error }
            }
            Self.transfer(from: client, to: server)
            if serverError == nil {
                do { if try server.handshake() == .complete { done += 1 } } catch { serverError = error }
            }
            Self.transfer(from: server, to: client)
            if done == 2 || (clientError != nil && serverError != nil) { break }
        }
        return (clientError, serverError)
    }

    /// All plaintext `connection` can read now, and whether the peer closed.
    static func readAll(_ connection: TLSConnection) throws -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            switch try chunk.withUnsafeMutableBytes({ try connection.read(into: $0) }) {
            case .bytes(let count): bytes += chunk.prefix(count)
            case .needsInput: return (bytes, false)
            case .closed: return (bytes, true)
            }
        }
    }

    static func write(_ text: String, to connection: TLSConnection) throws -> Bool {
        try Array(text.utf8).withUnsafeBytes { try connection.write($0) }
    }
}

@Suite("TLS connections in memory")
struct TLSConnectionTests {
    @Test("a handshake, data both ways (records larger than one read), ALPN and TLS 1.3")
    func handshakeAndData() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let server = try TLSServerContext(certificateChain: certificate, privateKey: key)
        let client = try TLSClientContext(caFile: certificate, applicationProtocols: ["h2", "http/1.1"])
        let pair = try TLSPair(server: server, client: client)
        let errors = pair.handshake()
        #expect(errors.client == nil && errors.server == nil)
        #expect(pair.server.isHandshakeComplete && pair.client.isHandshakeComplete)
        #expect(pair.server.applicationProtocol == "http/1.1")
        #expect(pair.client.protocolVersion == "TLSv1.3")
        #expect(!pair.server.sessionReused)

        #expect(try TLSPair.write("GET / HTTP/1.1\r\n\r\n", to: pair.client))
        TLSPair.transfer(from: pair.client, to: pair.server)
        #expect(try TLSPair.readAll(pair.server).bytes == Array("GET / HTTP/1.1\r\n\r\n".utf8))

        let large = String(repeating: "echo ", count: 10_000)  // 50 KB: four records
        #expect(try TLSPair.write(large, to: pair.server))
        #expect(pair.server.pendingCiphertextCount > 50_000)
        TLSPair.transfer(from: pair.server, to: pair.client)
        #expect(pair.server.pendingCiphertextCount == 0)
        let received = try TLSPair.readAll(pair.client)
        #expect(received.bytes == Array(large.utf8))
        #expect(!received.closed)
        #expect(pair.client.unreadCiphertextCount == 0)
    }

    @Test("ciphertext written into the caller's buffer; what does not fit waits and follows it", arguments: [false, true])
    func ciphertextIntoCallerBuffer(compactRecords: Bool) throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let pair = try TLSPair(
            server: TLSServerContext(certificateChain: certificate, privateKey: key, compactRecords: compactRecords),
            client: TLSClientContext(caFile: certificate))
        #expect(pair.handshake().client == nil)
        // With compact records the server seals with its own record layer; the client always
        // writes through OpenSSL's BIO.
        #expect(pair.server.usesOwnRecordLayer == compactRecords && !pair.client.usesOwnRecordLayer)
        for (writer, reader) in [(pair.server, pair.client), (pair.client, pair.server)] {
            // Everything fits: one TLS 1.3 record, 22 bytes longer than its plaintext.
            var output = [UInt8](repeating: 0, count: 256)
            let hello = Array("hello".utf8)
            let fitted = try output.withUnsafeMutableBytes { region in
                try hello.withUnsafeBytes { try writer.write($0, ciphertextInto: region) }
            }
            #expect(fitted.written && fitted.ciphertextCount == hello.count + 22)
            #expect(writer.pendingCiphertextCount == 0)
            output.withUnsafeBytes { reader.receive(UnsafeRawBufferPointer(rebasing: $0.prefix(fitted.ciphertextCount))) }
            #expect(try TLSPair.readAll(reader).bytes == hello)

            // 40 KB is three records: the first fits the 20 KB given, the other two wait.
            let large = Array(String(repeating: "echo ", count: 8_000).utf8)
            output = [UInt8](repeating: 0, count: 20_000)
            let split = try output.withUnsafeMutableBytes { region in
                try large.withUnsafeBytes { try writer.write($0, ciphertextInto: region) }
            }
            #expect(split.written && split.ciphertextCount == 16_384 + 22)
            #expect(writer.pendingCiphertextCount == large.count - 16_384 + 2 * 22)
            output.withUnsafeBytes { reader.receive(UnsafeRawBufferPointer(rebasing: $0.prefix(split.ciphertextCount))) }
            TLSPair.transfer(from: writer, to: reader)
            #expect(try TLSPair.readAll(reader).bytes == large)
        }
    }

    @Test("a TLS 1.3 server drops its SSL object after the handshake; data, KeyUpdate both ways and close_notify go on")
    func ownRecordLayer() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let pair = try TLSPair(server: TLSServerContext(certificateChain: certificate, privateKey: key, compactRecords: true), client: TLSClientContext(caFile: certificate))
        #expect(pair.handshake().client == nil)
        #expect(pair.server.usesOwnRecordLayer)
        #expect(!pair.client.usesOwnRecordLayer)
        #expect(pair.server.protocolVersion == "TLSv1.3" && pair.server.cipherName.hasPrefix("TLS_"))
        // OpenSSL sent the ticket under the server's application key; the record layer goes on after it.
        #expect(try TLSPair.write("welcome", to: pair.server))
        TLSPair.transfer(from: pair.server, to: pair.client)
        #expect(try TLSPair.readAll(pair.client).bytes == Array("welcome".utf8))
        #expect(pair.client.session != nil)

        // The client updates its key and asks for the server's: the server follows and answers.
        #expect(pair.client.requestKeyUpdate())
        #expect(try TLSPair.write("after the update", to: pair.client))
        TLSPair.transfer(from: pair.client, to: pair.server)
        #expect(try TLSPair.readAll(pair.server).bytes == Array("after the update".utf8))
        #expect(try TLSPair.write("reply", to: pair.server))
        TLSPair.transfer(from: pair.server, to: pair.client)
        #expect(try TLSPair.readAll(pair.client).bytes == Array("reply".utf8))
        #expect(try TLSPair.write("again", to: pair.client))
        TLSPair.transfer(from: pair.client, to: pair.server)
        #expect(try TLSPair.readAll(pair.server).bytes == Array("again".utf8))
        // Records larger than the reader's 4 KB buffer come out in pieces.
        let large = String(repeating: "echo ", count: 10_000)
        #expect(try TLSPair.write(large, to: pair.client))
        TLSPair.transfer(from: pair.client, to: pair.server)
        #expect(try TLSPair.readAll(pair.server).bytes == Array(large.utf8))

        #expect(pair.client.shutdown())
        TLSPair.transfer(from: pair.client, to: pair.server)
        #expect(try TLSPair.readAll(pair.server).closed)
        #expect(pair.server.shutdown())
        TLSPair.transfer(from: pair.server, to: pair.client)
        #expect(try TLSPair.readAll(pair.client).closed)
    }

    @Test("a record altered on the way is refused with bad_record_mac, and the client hears it")
    func alteredRecord() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let pair = try TLSPair(server: TLSServerContext(certificateChain: certificate, privateKey: key, compactRecords: true), client: TLSClientContext(caFile: certificate))
        #expect(pair.handshake().client == nil)
        #expect(try TLSPair.write("hello", to: pair.client))
        var record = pair.client.drainCiphertext { Array($0) } ?? []
        record[record.count - 1] ^= 1
        record.withUnsafeBytes { pair.server.receive($0) }
        #expect(throws: TLSError.self) { try TLSPair.readAll(pair.server) }
        #expect(!pair.server.shutdown())
        TLSPair.transfer(from: pair.server, to: pair.client)
        let error = #expect(throws: TLSError.self) { try TLSPair.readAll(pair.client) }
        #expect(error?.description.contains("bad record mac") == true)
    }

    @Test("ciphertext fed one byte at a time still decrypts", arguments: [false, true])
    func trickle(compactRecords: Bool) throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let pair = try TLSPair(server: TLSServerContext(certificateChain: certificate, privateKey: key, compactRecords: compactRecords), client: TLSClientContext(caFile: certificate))
        #expect(pair.handshake().client == nil)
        #expect(try TLSPair.write("hello", to: pair.client))
        let record = pair.client.drainCiphertext { Array($0) } ?? []
        var plaintext: [UInt8] = []
        for byte in record {
            [byte].withUnsafeBytes { pair.server.receive($0) }
            plaintext += try TLSPair.readAll(pair.server).bytes
        }
        #expect(plaintext == Array("hello".utf8))
    }

    @Test("close_notify: the peer reads the end of the stream", arguments: [false, true])
    func closeNotify(compactRecords: Bool) throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let pair = try TLSPair(server: TLSServerContext(certificateChain: certificate, privateKey: key, compactRecords: compactRecords), client: TLSClientContext(caFile: certificate))
        #expect(pair.handshake().client == nil)
        #expect(try TLSPair.write("last words", to: pair.server))
        #expect(pair.server.shutdown())
        TLSPair.transfer(from: pair.server, to: pair.client)
        let received = try TLSPair.readAll(pair.client)
        #expect(received.bytes == Array("last words".utf8))
        #expect(received.closed)
    }

    @Test("no close_notify before the handshake ends")
    func shutdownBeforeHandshake() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let connection = try TLSConnection(server: TLSServerContext(certificateChain: certificate, privateKey: key))
        #expect(!connection.shutdown())
        #expect(connection.pendingCiphertextCount == 0)
    }

    @Test("a server certificate from another CA is refused, and the server hears the alert")
    func wrongCA() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let (otherCA, _) = try files.selfSigned("other")
        let pair = try TLSPair(server: TLSServerContext(certificateChain: certificate, privateKey: key), client: TLSClientContext(caFile: otherCA))
        let errors = pair.handshake()
        let clientError = try #require(errors.client)
        #expect(clientError.description.contains("certificate verify failed"))
        #expect(errors.server != nil)
    }

    @Test("a certificate for another name is refused")
    func wrongHostname() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server", commonName: "chat.test")
        let server = try TLSServerContext(certificateChain: certificate, privateKey: key)
        let client = try TLSClientContext(caFile: certificate)
        let wrong = try TLSPair(server: server, client: client, serverName: "other.test")
        let error = try #require(wrong.handshake().client)
        #expect(error.description.contains("hostname mismatch"))
        let right = try TLSPair(server: server, client: client, serverName: "chat.test")
        #expect(right.handshake().client == nil)
    }

    @Test("a TLS 1.1-only client is refused")
    func legacyProtocol() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let legacy = try TLSClientContext(
            caFile: certificate, verifyPeer: true, certificateChain: nil, privateKey: nil, applicationProtocols: [], legacyTLS11: true
        )
        let pair = try TLSPair(server: TLSServerContext(certificateChain: certificate, privateKey: key), client: legacy)
        let errors = pair.handshake()
        let serverError = try #require(errors.server)
        #expect(serverError.description.contains("unsupported protocol"))
        #expect(errors.client != nil)
        #expect(!pair.server.isHandshakeComplete)
    }

    @Test("with a client CA, a client without a certificate is refused and one with a certificate gets in")
    func clientCertificates() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let (clientCertificate, clientKey) = try files.selfSigned("client", commonName: "redis-client")
        let server = try TLSServerContext(certificateChain: certificate, privateKey: key, clientCA: clientCertificate)
        let anonymous = try TLSPair(server: server, client: TLSClientContext(caFile: certificate))
        let errors = anonymous.handshake()
        #expect(errors.server?.description.contains("peer did not return a certificate") == true)
        let known = try TLSPair(
            server: server, client: TLSClientContext(caFile: certificate, certificateChain: clientCertificate, privateKey: clientKey)
        )
        let knownErrors = known.handshake()
        #expect(knownErrors.client == nil && knownErrors.server == nil)
    }

    /// A ticket from `first` offered to `second`: whether the second handshake resumed.
    func resumes(from first: TLSServerContext, on second: TLSServerContext, client: TLSClientContext) throws -> Bool {
        let pair = try TLSPair(server: first, client: client)
        #expect(pair.handshake().client == nil)
        // The TLS 1.3 ticket follows the handshake: the client takes it in with its next read.
        #expect(try TLSPair.write("hi", to: pair.server))
        TLSPair.transfer(from: pair.server, to: pair.client)
        _ = try TLSPair.readAll(pair.client)
        let session = try #require(pair.client.session)
        let again = try TLSPair(server: second, client: client, session: session)
        let errors = again.handshake()
        #expect(errors.client == nil && errors.server == nil)
        #expect(again.server.sessionReused == again.client.sessionReused)
        return again.server.sessionReused
    }

    @Test("a ticket resumes on another context holding the same keys, not on one with other keys")
    func ticketsAcrossContexts() throws {
        let files = try TestCertificates()
        defer { files.remove() }
        let (certificate, key) = try files.selfSigned("server")
        let client = try TLSClientContext(caFile: certificate)
        let keyA = try TicketKeyring.randomKey(), keyB = try TicketKeyring.randomKey()
        let worker0 = try TLSServerContext(certificateChain: certificate, privateKey: key)
        let worker1 = try TLSServerContext(certificateChain: certificate, privateKey: key)
        let stranger = try TLSServerContext(certificateChain: certificate, privateKey: key)
        // Before the shared keys arrive, each context's own random key resumes only its own tickets.
        #expect(try resumes(from: worker0, on: worker0, client: client))
        #expect(try !resumes(from: worker0, on: worker1, client: client))

        worker0.setTicketKeys([keyA])
        worker1.setTicketKeys([keyA])
        stranger.setTicketKeys([keyB])
        #expect(try resumes(from: worker0, on: worker1, client: client))
        #expect(try !resumes(from: worker0, on: stranger, client: client))

        // Rotation: the previous key still decrypts.
        worker1.setTicketKeys([keyB, keyA])
        #expect(try resumes(from: worker0, on: worker1, client: client))
        // Keys of the wrong length are ignored; an empty list keeps the current keys.
        worker1.setTicketKeys([[1, 2, 3]])
        #expect(try resumes(from: worker0, on: worker1, client: client))
    }
}
