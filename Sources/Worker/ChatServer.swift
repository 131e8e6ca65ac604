import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Shared

#if canImport(Glibc)
import Glibc
#endif

/// The listening side of a worker: binds its own socket, or adopts one inherited from the
/// supervisor, and builds each connection's HTTP → WebSocket pipeline.
enum ChatServer {
    /// Removed by name once a connection upgrades to WebSocket.
    static let httpHandlerName = "echo.http"

    static func start(
        group: EventLoopGroup, state: WorkerState, configuration: EchoConfiguration,
        inheritedSocket: Int32?
    ) async throws -> Channel {
        let hub = state.hub
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
                    try configure(channel: channel, state: state, hub: hub, configuration: configuration)
                }
            }
        if let fd = inheritedSocket {
            let channel = try await bootstrap.withBoundSocket(fd).get()
            // NIO listens with a backlog of 128 on an adopted socket; restore the configured one.
            _ = listen(fd, configuration.backlog)
            return channel
        }
        return try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
    }

    private static func configure(
        channel: Channel, state: WorkerState, hub: ChatHub, configuration: EchoConfiguration
    ) throws {
        let peer = channel.remoteAddress?.ipAddress ?? "unknown"
        let httpHandler = HTTPHandler(state: state, allowedOrigins: configuration.allowedOrigins)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: configuration.maxFrameBytes,
            // Frame errors are answered by ChatConnectionHandler (it writes its own frames).
            automaticErrorHandling: false,
            shouldUpgrade: { channel, head in
                guard WebSocketPolicy.isWebSocketPath(head.uri), !hub.draining,
                      WebSocketPolicy.allows(origin: head.headers.first(name: "origin"), allowed: configuration.allowedOrigins) else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let clientIP = ClientAddress.resolve(
                        peer: peer, forwardedFor: head.headers["x-forwarded-for"], trusted: hub.trustedProxies)
                    let sync = channel.pipeline.syncOperations
                    // Pipeline: [RawFrameWriter, NIO's encoder (unused), decoder, ChatConnectionHandler].
                    // Frames are encoded once per message and written from the head.
                    let writer = RawFrameWriter()
                    try sync.addHandler(writer, position: .first)
                    let output = try sync.context(handler: writer)
                    try sync.addHandler(ChatConnectionHandler(hub: hub, clientIP: clientIP, output: output))
                }
            }
        )
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                context.pipeline.removeHandler(name: httpHandlerName, promise: nil)
            })
        )
        try channel.pipeline.syncOperations.addHandler(httpHandler, name: httpHandlerName)
    }
}
