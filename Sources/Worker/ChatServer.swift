import EchoCore
import EchoShared
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

#if canImport(Glibc)
import Glibc
#endif

/// The listening side of a worker: binds its own socket, or adopts one inherited from the
/// supervisor, and builds each connection's HTTP → WebSocket pipeline.
enum ChatServer {
    static func start(
        group: EventLoopGroup, resources: WorkerResources, configuration: EchoConfiguration,
        inheritedSocket: Int32?
    ) async throws -> Channel {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // Accept up to 64 connections per wake-up instead of NIO's 4: join storms.
            .serverChannelOption(.maxMessagesPerRead, value: 64)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            // Each channel keeps its last receive buffer pooled for its whole life; NIO starts it
            // at 2 KiB. Chat frames are small and most sockets idle: start at 64 bytes (it doubles
            // for large frames and shrinks back). Measured: 2.3 KB less heap per idle socket.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 64, maximum: 65_536))
            .childChannelOption(
                .writeBufferWaterMark,
                value: .init(low: configuration.outboundLimitBytes / 2, high: configuration.outboundLimitBytes)
            )
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel: channel, resources: resources, listener: .chat)
                }
            }
        let logger = resources.hub.logger
        if let fd = inheritedSocket {
            // NIO listens with a backlog of 128 on an adopted socket; restore the configured one
            // at once, on the loop before the channel registers. (Restored after the bind future,
            // it stayed at 128 for as long as the awaiting task took to resume: a reload under a
            // join storm could overflow it.)
            let backlog = configuration.backlog
            return try await bootstrap
                .serverChannelInitializer { channel in
                    _ = listen(fd, backlog)
                    return channel.eventLoop.makeCompletedFuture { try addAcceptBackoff(channel, logger: logger) }
                }
                .withBoundSocket(fd).get()
        }
        return try await bootstrap
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try addAcceptBackoff(channel, logger: logger) }
            }
            .bind(host: configuration.host, port: configuration.port).get()
    }

    /// The admin listener (`/metrics`, the detailed `/health`): every worker binds the same
    /// address with SO_REUSEPORT, so whichever worker the kernel picks answers for the host.
    static func startAdmin(group: EventLoopGroup, resources: WorkerResources, address: AdminAddress) async throws -> Channel {
        let logger = resources.hub.logger
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try addAcceptBackoff(channel, logger: logger) }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel: channel, resources: resources, listener: .admin)
                }
            }
            .bind(host: address.host, port: address.port).get()
    }

    /// Out of file descriptors (EMFILE/ENFILE) or memory, `accept` fails while the connection
    /// stays queued: without a pause the loop retries at once, forever (a worker spun at 99 % CPU).
    private static func addAcceptBackoff(_ channel: Channel, logger: Logger) throws {
        try channel.pipeline.syncOperations.addHandler(AcceptPauseHandler(pause: acceptBackoff, logger: logger))
    }

    /// How long accepting pauses after a failed `accept`: short enough that serving resumes
    /// promptly once descriptors free up, long enough to cost nothing meanwhile.
    static let acceptBackoff = TimeAmount.milliseconds(200)

    /// Handler names, for removing the HTTP side when a connection becomes a WebSocket.
    enum Names {
        static let tls = "echo.tls"
        static let encoder = "echo.http.encoder"
        static let decoder = "echo.http.decoder"
        static let pipelining = "echo.http.pipelining"
        static let errors = "echo.http.errors"
        static let http = "echo.http"
    }

    /// A WebSocket's handlers, in order: the frame decoder (frames up to `ECHO_MAX_FRAME_BYTES`)
    /// and the chat handler, which checks masking and reserved bits itself. For a connection that
    /// fragments, the chat handler puts ``ClientFrameCheckHandler`` and NIO's
    /// `NIOWebSocketFrameAggregator` in front of itself, so the message reaches it whole, held to
    /// the same limit. Each one's errors become a close code in ``ChatConnectionHandler/closeCode(for:)``.
    static func addWebSocketHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, after previous: ChannelHandler?, hub: ChatHub, clientIP: String
    ) throws {
        let maxBytes = hub.configuration.maxFrameBytes
        let handlers: [ChannelHandler] = [
            ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxBytes)),
            ChatConnectionHandler(hub: hub, clientIP: clientIP),
        ]
        var last = previous
        for handler in handlers {
            try pipeline.addHandler(handler, position: last.map { .after($0) } ?? .last)
            last = handler
        }
    }

    /// The most fragments one message may arrive in (1009 past it): it bounds the aggregator's list.
    static let maxFragments = 4096

    /// A new connection speaks HTTP (behind ``TLSHandler`` when the port serves TLS); ``HTTPHandler`` turns it into a WebSocket (see
    /// ``WebSocketHandshake``) by replacing these handlers with a frame decoder and the chat handler.
    private static func configure(channel: Channel, resources: WorkerResources, listener: HTTPHandler.Listener) throws {
        let sync = channel.pipeline.syncOperations
        // TLS first, so everything behind it reads and writes plaintext; the admin listener
        // stays plain (it listens on loopback by default).
        if listener == .chat, let tls = resources.tls {
            try sync.addHandler(TLSHandler.server(context: tls, logger: resources.hub.logger), name: Names.tls)
        }
        try sync.addHandler(HTTPResponseEncoder(), name: Names.encoder)
        // Bytes a client sends right after its handshake are handed on when the decoder goes.
        try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes)), name: Names.decoder)
        try sync.addHandler(HTTPServerPipelineHandler(), name: Names.pipelining)
        try sync.addHandler(HTTPServerProtocolErrorHandler(), name: Names.errors)
        try sync.addHandler(HTTPHandler(resources: resources, listener: listener), name: Names.http)
    }
}
