import EchoTLS
import Logging
import NIOCore

/// TLS on a channel: ciphertext below, plaintext above, OpenSSL (through ``TLSConnection``) in
/// between. The same handler serves the worker's listening port and Echo's outgoing Redis
/// connections (`rediss://`).
///
/// - Writes made before the handshake ends wait; writes are encrypted when flushed, all flushed
///   writes into one socket write (one promise per write is kept).
/// - Each read is decrypted at once and every plaintext chunk is passed on.
/// - `close` sends close_notify, then closes; a close_notify from the peer is answered and closes.
/// - A handshake or record error (a bad certificate, plain HTTP on the TLS port, garbage) closes
///   this channel only, after the alert OpenSSL queued is flushed; it is logged at debug, and a
///   client passes it down the pipeline first (so Redis can report why).
///
/// Idle connections hold no buffers here: pending writes and ciphertext are released as soon as
/// they are sent, and OpenSSL's record buffers are released by `SSL_MODE_RELEASE_BUFFERS`; a
/// TLS 1.3 server connection drops OpenSSL's whole SSL object after the handshake
/// (``TLSConnection``), keeping only its two keyed ciphers.
/// A stalled handshake is closed by the timer of the handler behind it (``HTTPHandler``'s header
/// timeout on the worker), not here.
public final class TLSHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    enum Role {
        case server(TLSServerContext)
        case client(TLSClientContext, serverName: String, session: TLSSession?)
    }

    enum State: Equatable {
        /// Added, the connection not yet built (before `handlerAdded`).
        case idle
        /// Handshake messages are being exchanged; application writes wait.
        case handshaking
        /// Data flows both ways.
        case active
        /// close_notify sent or an error met: the channel is closing, nothing more is read or written.
        case closing
        /// The channel is inactive.
        case closed
    }

    private let role: Role
    private let logger: Logger
    private(set) var state = State.idle
    private var connection: TLSConnection?
    /// Writes not yet encrypted, oldest first; the first `flushedCount` of them were flushed.
    private var pending: [(buffer: ByteBuffer, promise: EventLoopPromise<Void>?)] = []
    private var flushedCount = 0
    /// Closes a failed connection whose peer keeps it open (see ``fail(context:error:)``).
    private var lingerTimer: Scheduled<Void>?

    /// OpenSSL hands out at most one record (16 KiB) of plaintext per read.
    static let maxChunk = 16 * 1024
    /// The smallest read buffer: chat frames are small, and each chunk is passed on as is.
    static let minChunk = 256

    init(role: Role, logger: Logger) {
        self.role = role
        self.logger = logger
    }

    /// The server end of an accepted connection.
    public static func server(context: TLSServerContext, logger: Logger = Logger(label: "echo.tls")) -> TLSHandler {
        TLSHandler(role: .server(context), logger: logger)
    }

    /// The client end: sends `serverName` as SNI and checks the server's certificate names it;
    /// offers `session` (from an earlier connection's ``session``) to resume.
    public static func client(
        context: TLSClientContext, serverName: String, session: TLSSession? = nil, logger: Logger = Logger(label: "echo.tls")
    ) -> TLSHandler {
        TLSHandler(role: .client(context, serverName: serverName, session: session), logger: logger)
    }

    /// The session to resume with on a later connection (TLS 1.3: known once the server's
    /// ticket has been read, which comes with or after its first data).
    public var session: TLSSession? { connection?.session }

    /// Whether the handshake has ended and data flows (for tests and diagnostics).
    public var isActive: Bool { state == .active }

    // MARK: Lifecycle

    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            switch role {
            case .server(let tls): connection = try TLSConnection(server: tls)
            case .client(let tls, let serverName, let session):
                connection = try TLSConnection(client: tls, serverName: serverName, session: session)
            }
            state = .handshaking
        } catch {
            fail(context: context, error: error)
            return
        }
        if context.channel.isActive { startHandshake(context: context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        startHandshake(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        // The SSL and its buffers go now, not when the last reference to the channel does.
        connection = nil
        lingerTimer?.cancel()
        lingerTimer = nil
        failPending(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    /// A client speaks first: its ClientHello goes out as soon as the socket is connected.
    private func startHandshake(context: ChannelHandlerContext) {
        guard case .client = role, state == .handshaking else { return }
        advanceHandshake(context: context)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection, state == .handshaking || state == .active else { return }
        let ciphertext = unwrapInboundIn(data)
        ciphertext.withUnsafeReadableBytes { connection.receive($0) }
        if state == .handshaking {
            advanceHandshake(context: context)
        }
        if state == .active {
            readPlaintext(context: context, connection: connection)
        }
    }

    private func advanceHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        let progress: TLSProgress
        do {
            progress = try connection.handshake()
        } catch {
            return fail(context: context, error: error)
        }
        sendCiphertext(context: context, promises: [])
        guard progress == .complete, state == .handshaking else { return }
        state = .active
        context.fireUserInboundEventTriggered(
            TLSHandshakeCompleted(sessionReused: connection.sessionReused, alpn: connection.applicationProtocol)
        )
        // Writes made while the handshake ran (a client's first request) go out now.
        if state == .active, flushedCount > 0 { encryptFlushed(context: context) }
    }

    /// Decrypts everything received and passes each chunk on. A handler behind may write,
    /// flush or close while a chunk is passed on, so the state is checked before each read.
    private func readPlaintext(context: ChannelHandlerContext, connection: TLSConnection) {
        var size = min(max(connection.unreadCiphertextCount, Self.minChunk), Self.maxChunk)
        // No buffer is allocated once nothing is left to read (the usual end of a read).
        reading: while state == .active, connection.hasBufferedInput {
            var buffer = context.channel.allocator.buffer(capacity: size)
            var result = TLSReadResult.needsInput
            do {
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { pointer in
                    result = try connection.read(into: pointer)
                    if case .bytes(let count) = result { return count }
                    return 0
                }
            } catch {
                return fail(context: context, error: error)
            }
            switch result {
            case .bytes(let count) where count > 0:
                // A full buffer may mean more of the same record waits inside OpenSSL.
                if count >= size { size = Self.maxChunk }
                context.fireChannelRead(wrapInboundOut(buffer))
            case .bytes, .needsInput:
                break reading
            case .closed:
                return closeWithNotify(context: context, promise: nil)
            }
        }
        // Post-handshake messages (a TLS 1.3 key update) may need an answer.
        if state == .active { sendCiphertext(context: context, promises: []) }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .idle, .handshaking, .active:
            pending.append((unwrapOutboundIn(data), promise))
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    public func flush(context: ChannelHandlerContext) {
        flushedCount = pending.count
        if state == .active { encryptFlushed(context: context) }
    }

    /// Encrypts every flushed write and sends the ciphertext as one socket write. Small writes
    /// (a batch of fan-out frames) are gathered into records of up to 16 KiB: a record costs 22
    /// bytes and a cipher call of its own, so one per frame would multiply both. OpenSSL's BIO
    /// writes the records straight into the buffer that goes to the socket, sized for all of them.
    private func encryptFlushed(context: ChannelHandlerContext) {
        guard let connection else { return }
        var plaintextBytes = 0
        for index in 0..<flushedCount { plaintextBytes += pending[index].buffer.readableBytes }
        var ciphertext = context.channel.allocator.buffer(capacity: Self.ciphertextCapacity(plaintext: plaintextBytes))
        // Anything OpenSSL produced before these records goes first.
        connection.drainCiphertext { ciphertext.writeBytes($0) }
        var promises: [EventLoopPromise<Void>] = []
        var written = 0
        while written < flushedCount {
            var end = written + 1
            var size = pending[written].buffer.readableBytes
            while end < flushedCount, size + pending[end].buffer.readableBytes <= Self.maxChunk {
                size += pending[end].buffer.readableBytes
                end += 1
            }
            let plaintext: ByteBuffer
            if end == written + 1 {
                plaintext = pending[written].buffer
            } else {
                var gathered = context.channel.allocator.buffer(capacity: size)
                for index in written..<end { gathered.writeImmutableBuffer(pending[index].buffer) }
                plaintext = gathered
            }
            var done = false
            do {
                try ciphertext.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.ciphertextCapacity(plaintext: size)) { output in
                    let result = try plaintext.withUnsafeReadableBytes { try connection.write($0, ciphertextInto: output) }
                    done = result.written
                    return result.ciphertextCount
                }
                // Ciphertext that did not fit the reserved space follows what did.
                connection.drainCiphertext { ciphertext.writeBytes($0) }
            } catch {
                // Every write is still in `pending`: fail() fails each promise once.
                return fail(context: context, error: error)
            }
            // OpenSSL wants to read first (not seen with renegotiation off): the rest waits for
            // the next read to end in a flush.
            guard done else { break }
            for index in written..<end {
                if let promise = pending[index].promise { promises.append(promise) }
            }
            written = end
        }
        if written == pending.count {
            pending = []
        } else {
            pending.removeFirst(written)
        }
        flushedCount -= written
        send(context: context, ciphertext: ciphertext, promises: promises)
    }

    /// Room for the records of `plaintext` bytes: each record of up to 16 KiB adds a header,
    /// the content type, an explicit nonce (TLS 1.2) and the tag, well under 64 bytes.
    static func ciphertextCapacity(plaintext: Int) -> Int {
        plaintext + (plaintext / maxChunk + 1) * 64
    }

    /// Writes and flushes what OpenSSL produced; `promises` complete with that write.
    private func sendCiphertext(context: ChannelHandlerContext, promises: [EventLoopPromise<Void>]) {
        let allocator = context.channel.allocator
        let ciphertext = connection?.drainCiphertext { bytes in
            var buffer = allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            return buffer
        }
        send(context: context, ciphertext: ciphertext, promises: promises)
    }

    /// Writes and flushes `ciphertext` unless it is empty; `promises` complete with that write.
    private func send(context: ChannelHandlerContext, ciphertext: ByteBuffer?, promises: [EventLoopPromise<Void>]) {
        guard let ciphertext, ciphertext.readableBytes > 0 else {
            promises.forEach { $0.succeed() }
            return
        }
        let promise: EventLoopPromise<Void>?
        switch promises.count {
        case 0: promise = nil
        case 1: promise = promises[0]
        default:
            promise = context.eventLoop.makePromise()
            for each in promises { promise!.futureResult.cascade(to: each) }
        }
        context.writeAndFlush(wrapOutboundOut(ciphertext), promise: promise)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else { return context.close(mode: mode, promise: promise) }
        closeWithNotify(context: context, promise: promise)
    }

    /// Sends close_notify (when the handshake finished) and closes. The alert is flushed before
    /// the close, so it reaches the kernel unless the socket's buffer is full; the close does not
    /// wait for the peer's own close_notify or for a peer that stopped reading.
    private func closeWithNotify(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        switch state {
        case .active:
            state = .closing
            failPending(ChannelError.ioOnClosedChannel)
            connection?.shutdown()
            sendCiphertext(context: context, promises: [])
        case .idle, .handshaking:
            state = .closing
            failPending(ChannelError.ioOnClosedChannel)
        case .closing, .closed:
            break
        }
        context.close(promise: promise)
    }

    // MARK: Errors

    /// A TLS failure: the alert OpenSSL queued goes out, then this channel closes.
    ///
    /// A server answers plain HTTP with a plain-text 400 instead (as nginx and Go do), and its
    /// close lingers: the output is shut (the peer reads the answer, then the end of the stream)
    /// and whatever the peer still sends is dropped until it closes too or ``lingerTime`` passes.
    /// Closing at once while the peer's bytes sit unread would answer them with a reset, which
    /// can destroy the 400 before the client reads it.
    ///
    /// A client passes the error on before closing, so its user can say why (Redis: in `/health`).
    private func fail(context: ChannelHandlerContext, error: any Error) {
        guard state != .closing, state != .closed else { return }
        logger.debug("TLS failure, closing the connection", metadata: [
            "error": "\(error)", "peer": "\(context.channel.remoteAddress.map { "\($0)" } ?? "?")",
        ])
        let handshaking = state == .handshaking
        state = .closing
        failPending(error)
        if case .server = role, handshaking, (error as? TLSError)?.isPlainHTTP == true {
            _ = connection?.drainCiphertext { _ in }
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: Self.plainHTTPAnswer)), promise: nil)
        } else {
            sendCiphertext(context: context, promises: [])
        }
        connection = nil
        guard case .server = role else {
            context.fireErrorCaught(error)
            return context.close(promise: nil)
        }
        let lingerTime = Self.lingerTime
        context.close(mode: .output).assumeIsolated().whenComplete { result in
            guard case .success = result, context.channel.isActive else { return context.close(promise: nil) }
            self.lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(in: lingerTime) {
                context.close(promise: nil)
            }
        }
    }

    /// How long a failed connection's input is drained before it is closed regardless.
    static let lingerTime = TimeAmount.seconds(2)

    static let plainHTTPAnswer = [
        "HTTP/1.1 400 Bad Request", "Content-Type: text/plain; charset=utf-8", "Connection: close",
        "Content-Length: 30", "", "This port speaks https only.\r\n",
    ].joined(separator: "\r\n")

    private func failPending(_ error: any Error) {
        let writes = pending
        pending = []
        flushedCount = 0
        for write in writes { write.promise?.fail(error) }
    }
}
