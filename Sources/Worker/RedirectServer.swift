import EchoShared
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// `ECHO_HTTP_REDIRECT_PORT`: under `echo`, each worker adopts its slot's socket for it (fd 5, held
/// by the supervisor like the main one, so a reload loses nothing queued); started alone, a worker
/// binds it with SO_REUSEPORT. Whichever worker the kernel picks sends the client on to https.
enum RedirectServer {
    /// Longest a redirect-port client may take to send its request.
    static let requestTimeout = TimeAmount.seconds(10)

    static func start(
        group: EventLoopGroup, configuration: EchoConfiguration, port: Int, inheritedSocket: Int32?, logger: Logger
    ) async throws -> Channel {
        let httpsPort = configuration.port
        let webroot = configuration.acmeWebroot
        let backlog = configuration.backlog
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            .serverChannelInitializer { channel in
                // NIO listens with a backlog of 128 on an adopted socket: restore the supervisor's
                // (as ChatServer does), so requests queued during a reload fit.
                if let fd = inheritedSocket { _ = listen(fd, backlog) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptPauseHandler(pause: ChatServer.acceptBackoff, logger: logger))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: requestTimeout))
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
                    try sync.addHandler(HTTPServerProtocolErrorHandler())
                    try sync.addHandler(RedirectHandler(httpsPort: httpsPort, acmeWebroot: webroot))
                }
            }
        if let fd = inheritedSocket { return try await bootstrap.withBoundSocket(fd).get() }
        return try await bootstrap.bind(host: configuration.host, port: port).get()
    }
}
