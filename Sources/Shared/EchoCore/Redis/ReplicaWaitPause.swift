import NIOCore
import Synchronization

/// After a `WAIT` fell short, chats skip theirs for a while.
///
/// A primary without its replicas (right after a failover, until a replica has synced with it)
/// would otherwise hold its connection for the whole WAIT timeout on every chat, and every other
/// command queued behind them: the shard would crawl. The first chat after the pause waits again
/// and so probes whether the replicas are back. Chats sent during a pause are counted as
/// unreplicated (nobody checked).
public final class ReplicaWaitPause: Sendable {
    public let length: TimeAmount
    /// `NIODeadline.uptimeNanoseconds` until which chats do not wait.
    private let until = Atomic<UInt64>(0)

    public init(length: TimeAmount = .seconds(2)) {
        self.length = length
    }

    public var isPaused: Bool { NIODeadline.now().uptimeNanoseconds < until.load(ordering: .relaxed) }

    public func fellShort() {
        until.store(NIODeadline.now().uptimeNanoseconds + UInt64(max(0, length.nanoseconds)), ordering: .relaxed)
    }
}
