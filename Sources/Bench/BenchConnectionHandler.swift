import NIOCore
import NIOWebSocket
import Shared

/// One benchmark client on an upgraded WebSocket: joins its room, sends stamped chat messages
/// when it is a sender, and books every delivery in its loop's ``LoopRecorder``.
///
/// Everything here runs on the channel's event loop; a frame costs a few byte searches, a tracker
/// update and a histogram increment, with no allocation beyond NIO's own frame.
final class BenchConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// This connection's place in the run.
    struct Role {
        var connection: Int
        var roomIndex: Int
        var roomID: String
        var memberIndex: Int
        var members: Int
        var username: String
        var isSender: Bool
    }

    private enum State {
        case awaitingSession
        case awaitingHistory
        case joined
        case closed
    }

    private let role: Role
    private let recorder: LoopRecorder
    private let rooms: BenchRoomRegistry
    private let joinAction: String
    /// Succeeds with the clock reading at which `history` arrived; fails when the server refuses.
    private let joined: EventLoopPromise<UInt64>
    private var state = State.awaitingSession
    private var context: ChannelHandlerContext?
    private var trackers: [BenchSequenceTracker]
    private var nextSequence = 0
    private var inFlight = 0
    private(set) var hasUnflushedWrites = false
    /// True between `channelRead` and `channelReadComplete`.
    private var reading = false
    /// `{"type":"chat","payload":{"roomId":"<room>","message":"` – the fixed start of every send.
    private let chatPrefix: [UInt8]
    private static let chatSuffix: [UInt8] = Array("\"}}".utf8)
    private var scratch: [UInt8] = []

    init(role: Role, recorder: LoopRecorder, rooms: BenchRoomRegistry, joinAction: String, joined: EventLoopPromise<UInt64>) {
        self.role = role
        self.recorder = recorder
        self.rooms = rooms
        self.joinAction = joinAction
        self.joined = joined
        trackers = Array(repeating: BenchSequenceTracker(), count: role.members)
        chatPrefix = Array("{\"type\":\"chat\",\"payload\":{\"roomId\":\"\(role.roomID)\",\"message\":\"".utf8)
        scratch.reserveCapacity(recorder.settings.messageSize + 64)
    }

    /// Fired by ``BenchConnector`` once the HTTP handlers are gone. The handler is added while the
    /// upgrade is still in progress, when a frame written would reach the HTTP encoder.
    struct UpgradeComplete {}

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is UpgradeComplete else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let join = "{\"type\":\"join\",\"payload\":{\"roomId\":\"\(role.roomID)\",\"username\":\"\(role.username)\",\"action\":\"\(joinAction)\"}}"
        var buffer = context.channel.allocator.buffer(capacity: join.utf8.count)
        buffer.writeString(join)
        context.writeAndFlush(wrapOutboundOut(frame(.text, buffer)), promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        leave()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        recorder.countError("connection: \(error)")
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        reading = true
        let incoming = unwrapInboundIn(data)
        switch incoming.opcode {
        case .text:
            let kind = incoming.data.withUnsafeReadableBytes {
                BenchFrame.classify($0, expectingHistory: state == .awaitingHistory)
            }
            handle(kind)
        case .ping:
            // The server pings every 30 s and closes connections that stay silent: answer.
            var payload = incoming.data
            if let key = incoming.maskKey { payload.webSocketUnmask(key) }
            context.writeAndFlush(wrapOutboundOut(frame(.pong, payload)), promise: nil)
        case .connectionClose:
            // The close code says why the server gave up on us (1008 slow consumer, 1001 drain...).
            var payload = incoming.data
            let code = payload.readInteger(as: UInt16.self).map(String.init) ?? "none"
            recorder.errorsByCode["close \(code)", default: 0] += 1
            context.close(promise: nil)
        default:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Saturating senders refill their window while reading; one flush per read burst.
        reading = false
        flush()
        context.fireChannelReadComplete()
    }

    private func handle(_ kind: BenchFrame) {
        switch kind {
        case .chat(let stamp):
            guard state == .joined, stamp.sender < trackers.count else {
                recorder.countError("unexpected chat")
                return
            }
            let outcome = trackers[stamp.sender].record(stamp.sequence)
            if stamp.measured {
                recorder.counts.record(outcome)
                if outcome != .duplicate {
                    recorder.recordLatency(nanoseconds: BenchClock.nanoseconds() &- stamp.sentAtNanoseconds)
                }
            }
            if outcome != .duplicate { recorder.intervalDelivered += 1 }
            if role.isSender, stamp.sender == role.memberIndex, outcome != .duplicate {
                acknowledged()
            }
        case .session:
            if state == .awaitingSession { state = .awaitingHistory }
        case .history:
            if state == .awaitingHistory || state == .awaitingSession { becomeJoined() }
        case .error(let code):
            recorder.countError(code)
            switch state {
            case .awaitingSession, .awaitingHistory:
                state = .closed
                joined.fail(BenchJoinError(code: code))
                context?.close(promise: nil)
            case .joined:
                // A refused send will never echo back: free its window slot so saturation goes on.
                if role.isSender { acknowledged() }
            case .closed:
                break
            }
        case .system, .other:
            break
        }
    }

    private func becomeJoined() {
        state = .joined
        rooms.join(role.roomIndex)
        recorder.joined += 1
        if role.isSender { recorder.register(sender: self) }
        joined.succeed(BenchClock.nanoseconds())
    }

    private func leave() {
        switch state {
        case .joined:
            rooms.leave(role.roomIndex)
            recorder.joined -= 1
            if recorder.phase != .done { recorder.dropped += 1 }
            if role.isSender { recorder.unregister(sender: self) }
        case .awaitingSession, .awaitingHistory:
            joined.fail(BenchJoinError(code: "CLOSED"))
        case .closed:
            break
        }
        state = .closed
    }

    private func acknowledged() {
        guard inFlight > 0 else { return }
        inFlight -= 1
        if case .saturate = recorder.settings.pacing, recorder.phase.isSending { fillWindow() }
    }

    /// Saturating senders: send until `window` messages are in flight (flushed by the caller or at
    /// the end of the read burst).
    func fillWindow() {
        guard case .saturate(let window) = recorder.settings.pacing, state == .joined else { return }
        while inFlight < window, recorder.phase.isSending { sendOne() }
        // Inside a read burst the read-complete flush covers these writes.
        if !reading { flush() }
    }

    /// Writes one stamped chat message (not flushed).
    func sendOne() {
        guard state == .joined, let context else { return }
        let measured = recorder.phase == .measure
        let stamp = BenchStamp(sender: role.memberIndex, sequence: nextSequence, measured: measured, sentAtNanoseconds: BenchClock.nanoseconds())
        nextSequence += 1
        inFlight += 1
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: chatPrefix)
        stamp.write(into: &scratch, size: recorder.settings.messageSize)
        scratch.append(contentsOf: Self.chatSuffix)
        var buffer = context.channel.allocator.buffer(capacity: scratch.count)
        buffer.writeBytes(scratch)
        if measured {
            recorder.counts.sent += 1
            recorder.counts.expected += rooms.members(role.roomIndex)
        }
        recorder.intervalSent += 1
        context.write(wrapOutboundOut(frame(.text, buffer)), promise: nil)
        hasUnflushedWrites = true
    }

    func flush() {
        guard hasUnflushedWrites, let context else { return }
        hasUnflushedWrites = false
        context.flush()
    }

    /// Client frames must be masked (RFC 6455 §5.3).
    private func frame(_ opcode: WebSocketOpcode, _ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: opcode, maskKey: .random(using: &recorder.maskKeys), data: data)
    }
}

struct BenchJoinError: Error, CustomStringConvertible {
    var code: String
    var description: String { "join refused: \(code)" }
}
