import EchoBenchKit
import EchoTLS
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Opens one benchmark connection: TCP connect (optionally from a chosen 127.0.0.x) with
/// ``BenchConnectionHandler``, which upgrades and joins, behind a ``TLSHandler`` for `wss://`.
struct BenchConnector: Sendable {
    var targets: [BenchTarget]
    var sourceAddresses: Int
    var connectTimeout: TimeAmount
    /// From connect to `history`; a connection that takes longer is closed and counted as failed.
    var joinTimeout: TimeAmount
    /// The TLS client for `wss://` targets.
    var tls: BenchTLS?
    /// Server frames can be whole histories (50 messages of up to 2000 characters).
    var maxFrameSize = 16 << 20

    /// A connection whose join is under way.
    struct Pending {
        var channel: any Channel
        /// Clock reading when `history` arrived.
        var joined: EventLoopFuture<UInt64>
    }

    /// `session` is asked on the channel's loop, when its pipeline is built: the TLS session to
    /// offer (resumption), nil for a full handshake.
    func connect(
        connection: Int,
        on eventLoop: any EventLoop,
        session: @escaping @Sendable () -> TLSSession? = { nil },
        makeHandler: @escaping @Sendable (BenchTarget, Int, EventLoopPromise<UInt64>) -> BenchConnectionHandler
    ) -> EventLoopFuture<Pending> {
        let target = targets[connection % targets.count]
        let joined = eventLoop.makePromise(of: UInt64.self)
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        if sourceAddresses > 1 {
            let source = BenchTarget.sourceAddress(index: connection, count: sourceAddresses)
            // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per destination, or binding
            // first would cap every source address at one ephemeral range for all targets.
            bootstrap = bootstrap
                .channelOption(.socket(SocketOptionLevel(IPPROTO_IP), SocketOptionName(24)), value: 1)
                .bind(to: try! SocketAddress(ipAddress: source, port: 0))
        }
        let maxFrameSize = self.maxFrameSize
        let joinTimeout = self.joinTimeout
        let tls = target.tls ? self.tls : nil
        return bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls { try channel.pipeline.syncOperations.addHandler(tls.handler(session: session())) }
                try channel.pipeline.syncOperations.addHandler(makeHandler(target, maxFrameSize, joined))
            }
        }
        .connect(to: target.address)
        .map { channel in
            // Whatever happens before the join completes (a server that never answers the upgrade
            // or the join, a reset), the caller hears about it and the run goes on without it.
            let timeout = channel.eventLoop.scheduleTask(in: joinTimeout) { channel.close(promise: nil) }
            joined.futureResult.whenComplete { _ in timeout.cancel() }
            channel.closeFuture.whenComplete { _ in joined.fail(BenchJoinError(code: "CLOSED")) }
            return Pending(channel: channel, joined: joined.futureResult)
        }
        .flatMapErrorThrowing { error in
            joined.fail(error)
            throw error
        }
    }
}
