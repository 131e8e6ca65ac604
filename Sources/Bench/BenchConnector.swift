#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Shared

/// Opens one benchmark connection: TCP connect (optionally from a chosen 127.0.0.x), HTTP/1.1
/// upgrade to WebSocket, then ``BenchConnectionHandler`` takes over and joins.
struct BenchConnector: Sendable {
    var targets: [BenchTarget]
    var sourceAddresses: Int
    var connectTimeout: TimeAmount
    /// From connect to `history`; a connection that takes longer is closed and counted as failed.
    var joinTimeout: TimeAmount
    /// Server frames can be whole histories (50 messages of up to 2000 characters).
    var maxFrameSize = 16 << 20

    /// A connection whose join is under way.
    struct Pending {
        var channel: any Channel
        /// Clock reading when `history` arrived.
        var joined: EventLoopFuture<UInt64>
    }

    enum UpgradeOutcome: Sendable {
        case upgraded
        case refused
    }

    func connect(
        connection: Int,
        on eventLoop: any EventLoop,
        makeHandler: @escaping @Sendable (EventLoopPromise<UInt64>) -> BenchConnectionHandler
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
        let outcome = eventLoop.makePromise(of: UpgradeOutcome.self)
        let connected = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let upgrader = NIOTypedWebSocketClientUpgrader<UpgradeOutcome>(
                    maxFrameSize: maxFrameSize,
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(makeHandler(joined))
                            return .upgraded
                        }
                    }
                )
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "\(target.host):\(target.port)")
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)
                let configuration = NIOTypedHTTPClientUpgradeConfiguration<UpgradeOutcome>(
                    upgradeRequestHead: head,
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeSucceededFuture(.refused)
                    }
                )
                var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(upgradeConfiguration: configuration)
                // Keep any frame that arrives in the same read as the 101 response.
                pipeline.leftOverBytesStrategy = .forwardBytes
                try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: pipeline)
                    .cascade(to: outcome)
            }
        }
        .connect(to: target.address)
        let joinTimeout = self.joinTimeout
        return connected.flatMap { channel in
            // Whatever happens before the join completes (a server that never answers the upgrade
            // or the join, a reset), the caller hears about it and the run goes on without it.
            let timeout = channel.eventLoop.scheduleTask(in: joinTimeout) { channel.close(promise: nil) }
            joined.futureResult.whenComplete { _ in timeout.cancel() }
            channel.closeFuture.whenComplete { _ in
                outcome.fail(BenchJoinError(code: "CLOSED"))
                joined.fail(BenchJoinError(code: "CLOSED"))
            }
            return outcome.futureResult.flatMapThrowing { result -> Pending in
                guard result == .upgraded else { throw BenchJoinError(code: "UPGRADE_REFUSED") }
                channel.pipeline.fireUserInboundEventTriggered(BenchConnectionHandler.UpgradeComplete())
                return Pending(channel: channel, joined: joined.futureResult)
            }
            .flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
        .flatMapErrorThrowing { error in
            joined.fail(error)
            outcome.fail(error)
            throw error
        }
    }
}
