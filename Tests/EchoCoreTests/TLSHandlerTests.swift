import EchoCore
import EchoTLS
import Foundation
import NIOCore
import NIOEmbedded
import Testing

/// A server TLSHandler and a client TLSHandler on two EmbeddedChannels; ``pump()`` carries each
/// one's ciphertext to the other, so both run real OpenSSL handshakes with no socket.
final class TLSChannelPair {
    let server = EmbeddedChannel()
    let client = EmbeddedChannel()
    let serverRecorder = PlaintextRecorder()
    let clientRecorder = PlaintextRecorder()
    /// Errors that reached the end of the client's pipeline (a failing client passes them on).
    var clientErrors: [any Error] = []

    let clientHandler: TLSHandler

    init(
        certificate: String, key: String, serverName: String = "localhost", caFile: String? = nil,
        serverContext: TLSServerContext? = nil, session: TLSSession? = nil
    ) throws {
        let serverContext = try serverContext ?? TLSServerContext(certificateChain: certificate, privateKey: key)
        let clientContext = try TLSClientContext(caFile: caFile ?? certificate, applicationProtocols: ["http/1.1"])
        clientHandler = TLSHandler.client(context: clientContext, serverName: serverName, session: session)
        try server.pipeline.syncOperations.addHandlers([TLSHandler.server(context: serverContext), serverRecorder])
        try client.pipeline.syncOperations.addHandlers([clientHandler, clientRecorder])
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 4433)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
    }

    /// Moves ciphertext both ways until neither side has anything to send; the socket writes seen.
    @discardableResult
    func pump() throws -> Int {
        var writes = 0
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                writes += 1
                moved = true
                if server.isActive { try server.writeInbound(bytes) }
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                writes += 1
                moved = true
                if client.isActive { try deliverToClient(bytes) }
            }
        }
        return writes
    }

    /// Hands `bytes` to the client, keeping an error its pipeline passed on.
    func deliverToClient(_ bytes: ByteBuffer) throws {
        do {
            try client.writeInbound(bytes)
        } catch let error as TLSError {
            clientErrors.append(error)
        }
    }

    func send(_ text: String, from channel: EmbeddedChannel) -> EventLoopFuture<Void> {
        channel.writeAndFlush(ByteBuffer(string: text))
    }
}

/// What reaches the handler behind a TLSHandler: plaintext and the handshake event.
final class PlaintextRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var text = ""
    var chunks = 0
    var handshakes: [TLSHandshakeCompleted] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        chunks += 1
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSHandshakeCompleted { handshakes.append(event) }
        context.fireUserInboundEventTriggered(event)
    }
}

/// A self-signed certificate made by the `openssl` command, removed with its folder.
struct HandlerTestCertificate {
    let folder: URL
    var certificate: String { folder.appendingPathComponent("cert.pem").path }
    var key: String { folder.appendingPathComponent("key.pem").path }

    init(commonName: String = "localhost") throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("echo-tls-handler-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", folder.appendingPathComponent("key.pem").path, "-out", folder.appendingPathComponent("cert.pem").path,
            "-days", "2", "-subj", "/CN=\(commonName)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

@Suite("TLSHandler on EmbeddedChannels")
struct TLSHandlerTests {
    @Test("handshake, then data both ways; each side hears the handshake once, with ALPN")
    func handshakeAndData() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        try pair.pump()
        #expect(pair.serverRecorder.handshakes == [TLSHandshakeCompleted(sessionReused: false, alpn: "http/1.1")])
        #expect(pair.clientRecorder.handshakes == [TLSHandshakeCompleted(sessionReused: false, alpn: "http/1.1")])

        let sent = pair.send("GET / HTTP/1.1\r\n\r\n", from: pair.client)
        try pair.pump()
        try sent.wait()
        #expect(pair.serverRecorder.text == "GET / HTTP/1.1\r\n\r\n")

        let big = String(repeating: "0123456789", count: 5_000)
        let reply = pair.send(big, from: pair.server)
        try pair.pump()
        try reply.wait()
        #expect(pair.clientRecorder.text == big)
        #expect(pair.clientRecorder.chunks >= 4)  // 50 KB arrives as one chunk per 16 KiB record
    }

    @Test("writes made during the handshake wait and go out after it, in order")
    func writesBeforeHandshake() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        let first = pair.send("first ", from: pair.client)
        let second = pair.send("second", from: pair.client)
        try pair.pump()
        try first.wait()
        try second.wait()
        #expect(pair.serverRecorder.text == "first second")
    }

    @Test("writes flushed together leave as one socket write and one record, every promise kept")
    func coalescedFlush() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        try pair.pump()
        let writes = (0..<10).map { pair.server.write(ByteBuffer(string: "frame \($0);")) }
        pair.server.flush()
        var socketWrites = 0, ciphertext = 0
        while let bytes = try pair.server.readOutbound(as: ByteBuffer.self) {
            socketWrites += 1
            ciphertext += bytes.readableBytes
            try pair.client.writeInbound(bytes)
        }
        #expect(socketWrites == 1)
        // 80 bytes of plaintext; one TLS 1.3 record adds 22 bytes, ten would add 220.
        #expect(ciphertext == 80 + 22)
        for write in writes { try write.wait() }
        #expect(pair.clientRecorder.text == (0..<10).map { "frame \($0);" }.joined())

        // Past 16 KiB a new record starts; order and content survive.
        let large = (0..<40).map { _ in String(repeating: "x", count: 1000) }
        let bigWrites = large.map { pair.server.write(ByteBuffer(string: $0)) }
        pair.server.flush()
        try pair.pump()
        for write in bigWrites { try write.wait() }
        #expect(pair.clientRecorder.text.hasSuffix(large.joined()))
    }

    @Test("close sends close_notify; the peer answers it and closes too")
    func closeNotify() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        try pair.pump()
        let closed = pair.client.close()
        try closed.wait()
        #expect(!pair.client.isActive)
        // The close_notify is still in the client's outbound queue: the server reads it.
        while let bytes = try pair.client.readOutbound(as: ByteBuffer.self) { try pair.server.writeInbound(bytes) }
        #expect(!pair.server.isActive)
        // The server answered with its own close_notify before closing.
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) != nil)
        #expect(throws: ChannelError.ioOnClosedChannel) { try pair.send("late", from: pair.client).wait() }
    }

    @Test("a plain HTTP request on the TLS side gets a plain 400, the channel closes, nothing reaches the app")
    func plainHTTP() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        try pair.server.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"))
        let answer = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: answer).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(String(buffer: answer).hasSuffix("\r\n\r\nThis port speaks https only.\r\n"))
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.text.isEmpty)
        #expect(pair.serverRecorder.handshakes.isEmpty)
    }

    @Test("garbage after the handshake: an alert is flushed, then only that channel closes")
    func recordError() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        try pair.pump()
        // A record header announcing application data, then bytes that do not decrypt.
        var garbage = ByteBuffer(bytes: [0x17, 0x03, 0x03, 0x00, 0x20])
        garbage.writeBytes([UInt8](repeating: 0xAB, count: 32))
        try pair.server.writeInbound(garbage)
        #expect(!pair.server.isActive)
        let alert = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        try pair.deliverToClient(alert)
        #expect(!pair.client.isActive)
        // The client passes its failure on: the alert the server sent.
        #expect(pair.clientErrors.map { "\($0)" }.joined().contains("alert"))
    }

    @Test("a certificate for another host name: the client closes during the handshake")
    func wrongHostname() throws {
        let files = try HandlerTestCertificate(commonName: "chat.test")
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key, serverName: "other.test")
        try pair.pump()
        #expect(!pair.client.isActive)
        #expect(!pair.server.isActive)
        #expect(pair.clientRecorder.handshakes.isEmpty)
        let error = try #require(pair.clientErrors.first as? TLSError)
        #expect(error.description.contains("hostname mismatch"))
    }

    @Test("a client handler resumes with the session of an earlier connection")
    func resumption() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let server = try TLSServerContext(certificateChain: files.certificate, privateKey: files.key)
        let first = try TLSChannelPair(certificate: files.certificate, key: files.key, serverContext: server)
        try first.pump()
        // The TLS 1.3 ticket comes after the handshake; the client reads it with the first data.
        let reply = first.send("hello", from: first.server)
        try first.pump()
        try reply.wait()
        let session = try #require(first.clientHandler.session)
        let second = try TLSChannelPair(certificate: files.certificate, key: files.key, serverContext: server, session: session)
        try second.pump()
        #expect(second.clientRecorder.handshakes.first?.sessionReused == true)
        #expect(second.serverRecorder.handshakes.first?.sessionReused == true)
    }

    @Test("writes pending when the channel goes inactive fail")
    func inactiveFailsWrites() throws {
        let files = try HandlerTestCertificate()
        defer { files.remove() }
        let pair = try TLSChannelPair(certificate: files.certificate, key: files.key)
        // Still handshaking: the write waits in the handler.
        let waiting = pair.send("never", from: pair.client)
        pair.client.pipeline.fireChannelInactive()
        #expect(throws: ChannelError.ioOnClosedChannel) { try waiting.wait() }
        _ = try? pair.client.finish()
    }
}
