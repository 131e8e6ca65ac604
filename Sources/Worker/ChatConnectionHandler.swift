import EchoCore
import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// One WebSocket client: parses its frames, runs its requests against the room store, and writes
/// what the hub fans out to it.
///
/// A join subscribes first, then reads the stream, then goes live: live messages that arrive while
/// the join script runs are buffered and those already in the history it read are dropped, so a
/// resumed client sees no gap and no duplicate.
final class ChatConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    /// Frames are written already encoded (``WebSocketWire``); no frame encoder is in the pipeline.
    typealias OutboundOut = ByteBuffer

    struct Membership {
        var roomID: String
        var sessionID: String
        var username: String
    }

    /// Live messages received while the join is in flight. A class, so appending does not copy
    /// the array out of the enum each time.
    final class PendingJoin {
        let membership: Membership
        let generation: Int
        var buffered: [(id: StreamID?, frame: ByteBuffer)] = []
        init(membership: Membership, generation: Int) {
            self.membership = membership
            self.generation = generation
        }
    }

    enum State {
        case idle
        case joining(PendingJoin)
        case joined(Membership)
    }

    private let hub: ChatHub
    let clientIP: String
    private var context: ChannelHandlerContext?
    private var state = State.idle
    private var generation = 0
    /// Leave requests so far: a join whose per-IP check was pending when one came is dropped.
    private var leaves: UInt8 = 0
    private var closing = false
    private var awaitingPong = false
    /// Whether a join ever succeeded: a WebSocket that never joins is closed after
    /// `ECHO_JOIN_TIMEOUT` (``JoinDeadlines``).
    private(set) var hasJoined = false
    /// `history` requests waiting for the one read from Redis in flight (0: none in flight).
    /// Requests that arrive during a read share its reply (the same buffer, queued once per
    /// request), so one client cannot make the worker build many history replies at once.
    private var historyWaiters: UInt8 = 0
    /// Reading is paused until the inbound budget refills.
    private var readPaused = false
    /// When the WebSocket opened, in whole seconds of uptime (the join timeout is counted in seconds).
    private let openedAt = UInt32(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
    /// The channel's writability, kept from `channelWritabilityChanged` (NIO fires it in the write
    /// that crosses the limit). Reading `channel.isWritable` per delivery touched the channel's
    /// separate atomic, which showed as 9 % of a worker's samples in S2 (docs/benchmarks.md).
    private var writable = true
    /// A fragmented message being put together (rare: browsers send whole frames).
    private var fragments: (opcode: WebSocketOpcode, data: ByteBuffer)?
    /// Set by the hub while this connection waits for the end-of-batch flush.
    var flushScheduled = false
    /// The newest message this client has (from history or live). A live copy at or below it is a
    /// duplicate, and after a Redis reconnect the hub replays the stream after it (or resets it,
    /// see ChatConnectionHandler+Resync.swift).
    var lastID: StreamID?
    /// See ``ResumePlan/duplicateFloor(history:recovered:)``.
    var duplicateFloor: StreamID?
    /// See ``allowRedisRequest()``.
    private var requestBucket = TokenBucket(capacity: 20, ratePerMinute: 120, nowMilliseconds: Clock.milliseconds())
    /// `ECHO_INBOUND_BYTES_PER_SECOND`: see ``chargeInbound(_:context:)``.
    private var inbound: InboundByteBudget

    init(hub: ChatHub, clientIP: String) {
        self.hub = hub
        self.clientIP = clientIP
        inbound = InboundByteBudget(burst: hub.configuration.maxFrameBytes, nowNanoseconds: NIODeadline.now().uptimeNanoseconds)
    }

    var joinedSessionID: String? {
        if case .joined(let m) = state { return m.sessionID }
        return nil
    }

    var joinedMembership: Membership? {
        if case .joined(let m) = state { return m }
        return nil
    }

    /// The hub's logger with this connection's address; built only when something is logged, so
    /// an idle connection carries no logger of its own.
    private var logger: Logger {
        var logger = hub.logger
        logger[metadataKey: "ip"] = "\(clientIP)"
        logger[metadataKey: "conn"] = "\(ObjectIdentifier(self).hashValue & 0xFFFFFF)"
        return logger
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
        hub.attach(self)
        hub.joinDeadlines.add(self, timeoutSeconds: hub.configuration.joinTimeoutSeconds)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        leaveCurrentRoom()
        hub.detach(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One connection's error closes that connection only; frame errors get their close code.
        switch error as? NIOWebSocketError {
        case .invalidFrameLength:
            _ = close(code: .messageTooLarge)
        case .fragmentedControlFrame, .multiByteControlFrameLength:
            _ = close(code: .protocolError)
        case nil:
            logger.debug("connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard !closing else { return }
        // RFC 6455 §5.1-5.2: a client masks every frame, and no extension that gives the reserved
        // bits a meaning was negotiated. NIO's decoder accepts both; the connection fails here.
        guard frame.maskKey != nil, !frame.rsv1, !frame.rsv2, !frame.rsv3 else {
            hub.counters.protocolErrorCloses += 1
            _ = close(code: .protocolError)
            return
        }
        chargeInbound(frame.length, context: context)
        awaitingPong = false
        switch frame.opcode {
        case .text, .binary:
            guard fragments == nil else {
                _ = close(code: .protocolError)  // a new message before the last one finished
                return
            }
            if frame.fin {
                handleMessage(opcode: frame.opcode, data: Self.payload(of: frame))
            } else {
                fragments = (frame.opcode, Self.payload(of: frame))
            }
        case .continuation:
            guard var message = fragments else {
                _ = close(code: .protocolError)
                return
            }
            var piece = Self.payload(of: frame)
            guard message.data.readableBytes + piece.readableBytes <= hub.configuration.maxFrameBytes else {
                fragments = nil
                _ = close(code: .messageTooLarge)
                return
            }
            message.data.writeBuffer(&piece)
            if frame.fin {
                fragments = nil
                handleMessage(opcode: message.opcode, data: message.data)
            } else {
                fragments = message
            }
        case .ping:
            write(WebSocketWire.frame(.pong, payload: Self.payload(of: frame)), flush: true)
        case .connectionClose:
            if closing {
                context.close(promise: nil)
            } else {
                // Echo the client's close (or fail a malformed one), then hang up.
                let code = ClientCloseFrame.answer(to: Self.payload(of: frame))
                if code == .protocolError { hub.counters.protocolErrorCloses += 1 }
                _ = close(code: code)
            }
        case .pong:
            break
        default:
            // Reserved opcodes (3–7, 0xB–0xF): RFC 6455 §5.2 says fail the connection.
            hub.counters.protocolErrorCloses += 1
            _ = close(code: .protocolError)
        }
    }

    /// The frame's payload, unmasked (every client frame is masked; checked on arrival).
    private static func payload(of frame: WebSocketFrame) -> ByteBuffer {
        var data = frame.data
        if let key = frame.maskKey { WebSocketWire.unmask(&data, key: (key[0], key[1], key[2], key[3])) }
        return data
    }

    private func handleMessage(opcode: WebSocketOpcode, data: ByteBuffer) {
        guard opcode == .text else {
            hub.counters.errors[.binaryNotSupported, default: 0] += 1
            _ = close(code: .unacceptableData)
            return
        }
        guard data.withUnsafeReadableBytes(UTF8Validation.isValid) else {
            _ = close(code: .dataInconsistentWithMessage)
            return
        }
        handleText(data)
    }

    // MARK: Requests

    private func handleText(_ bytes: ByteBuffer) {
        let request: ClientRequest
        do {
            request = try ClientRequest.parse(bytes, limits: hub.limits)
        } catch {
            send(error: error)
            return
        }
        switch request {
        case .join(let join):
            // Join attempts per client IP, counted in Redis across workers (docs/security.md). A
            // leave sent after this join and handled while the check runs cancels it, as it would
            // cancel a join in flight.
            let leaves = self.leaves
            hub.admission.allowJoin(ip: clientIP).assumeIsolated().whenSuccess { refusal in
                guard self.context != nil, self.leaves == leaves else { return }
                if let refusal { self.send(error: refusal) } else { self.join(join) }
            }
        case .chat(let chat): self.chat(chat)
        case .leave:
            leaves &+= 1
            leaveCurrentRoom()
        case .history: history()
        case .ping: send(ServerFrames.pong(timestamp: Clock.milliseconds()))
        }
    }

    /// Joins and history reads cost Redis work but pass no chat limiter: bound them per connection.
    private func allowRedisRequest() -> Bool {
        guard case .refused(let retryAfter) = requestBucket.take(nowMilliseconds: Clock.milliseconds()) else { return true }
        send(error: ProtocolError(.rateLimited, "Too many joins or history requests; wait a moment.", retryAfterMilliseconds: retryAfter))
        return false
    }

    private func join(_ request: JoinRequest) {
        guard allowRedisRequest() else { return }
        if hub.draining {
            send(error: ProtocolError(.unavailable, "This server is restarting; reconnect and join again."))
            return
        }
        leaveCurrentRoom()
        generation += 1
        let membership = Membership(roomID: request.roomID, sessionID: SessionID.make(), username: request.username)
        let pending = PendingJoin(membership: membership, generation: generation)
        state = .joining(pending)
        logger.debug("join", metadata: ["room": "\(request.roomID)", "action": "\(request.action.rawValue)"])
        let store = hub.store
        hub.addMember(self, room: request.roomID).flatMap {
            store.join(request, sessionID: membership.sessionID, timestamp: Clock.milliseconds())
        }.assumeIsolated().whenComplete { result in
            guard case .joining(let current) = self.state, current.generation == pending.generation else { return }
            switch result {
            case .success(.joined(_, let all, let recovered)):
                self.state = .joined(membership)
                self.hasJoined = true
                // The oldest messages that do not fit the history budget are left out; the reply
                // then says recovered:false, so a resuming client knows it may have a gap.
                let messages = all.suffix(HistoryBudget.keptCount(sizes: all.map(\.frame.readableBytes), budget: self.historyBudget))
                let trimmed = messages.count < all.count
                self.send(ServerFrames.session(sessionID: membership.sessionID, roomID: membership.roomID, username: membership.username, limits: ClientLimits(self.hub.configuration)), flush: false)
                self.send(ServerFrames.history(messages.map(\.frame), recovered: trimmed ? false : recovered), flush: false)
                let lastSeen = ResumePlan.lastSeen(history: messages.map(\.id), since: trimmed ? nil : request.since)
                self.lastID = lastSeen
                self.duplicateFloor = ResumePlan.duplicateFloor(history: messages.map(\.id), recovered: recovered)
                // false: the room's live feed was interrupted during this join, so the buffer has
                // a hole; the hub replays the stream after lastID instead (+Resync.swift).
                if self.hub.memberJoined(self, room: membership.roomID) {
                    for live in ResumePlan.liveAfterHistory(current.buffered, lastSeen: lastSeen) {
                        _ = self.deliver(live.frame, id: live.id)
                    }
                }
                self.flushNow()
            case .success(.roomNotFound):
                self.state = .idle
                self.hub.removeMember(self, room: membership.roomID)
                self.send(error: ProtocolError(.roomNotFound, "Room \(membership.roomID) does not exist. Check the code, or create a new room."))
            case .failure(let error):
                self.state = .idle
                self.hub.removeMember(self, room: membership.roomID)
                self.logger.warning("join failed", metadata: ["room": "\(membership.roomID)", "error": "\(error)"])
                self.send(error: ProtocolError(.unavailable, "Chat storage is unavailable; try again in a moment."))
            }
        }
    }

    private func chat(_ request: ChatRequest) {
        guard case .joined(let membership) = state else {
            send(error: ProtocolError(.notJoined, "Join a room before sending messages.", clientID: request.clientID))
            return
        }
        if let room = request.roomID, room != membership.roomID {
            send(error: ProtocolError(.roomMismatch, "Room mismatch: this connection is in room \(membership.roomID).", clientID: request.clientID))
            return
        }
        hub.counters.messagesIn += 1
        let body = ServerFrames.chatBody(sender: membership.username, sessionID: membership.sessionID, request: request, timestamp: Clock.milliseconds())
        hub.store.chat(room: membership.roomID, body: body, clientID: request.clientID, clientIP: clientIP).assumeIsolated().whenComplete { result in
            switch result {
            case .success(.stored):
                break  // Everyone, this sender included, receives it through the room's channel.
            case .success(.duplicate(_, let stored)):
                // A copy this connection gets through the room anyway is not sent twice.
                if let stored, ResumePlan.confirmsDuplicate(stored.id, floor: self.duplicateFloor) { self.send(stored.frame) }
            case .success(.rateLimited(let retryAfter)):
                self.hub.counters.rateLimited += 1
                self.send(error: ProtocolError(.rateLimited, "Too many messages; wait a moment.", retryAfterMilliseconds: retryAfter, clientID: request.clientID))
            case .failure(let error):
                // Unconfirmed, never half-done: the script stores and publishes atomically, so the
                // message either reached everyone or no one. After a timeout Redis may still run
                // it; a retry with the same clientId is never stored twice.
                if self.hub.configuration.rateLimitPerMinute > 0 { self.hub.counters.rateLimiterUnavailable += 1 }
                self.logger.warning("chat not confirmed", metadata: ["room": "\(membership.roomID)", "error": "\(error)"])
                self.send(error: ProtocolError(.unavailable, "Chat storage did not confirm the message. Retry with the same clientId; it will not be stored twice.", clientID: request.clientID))
            }
        }
    }

    private func history() {
        guard allowRedisRequest() else { return }
        guard case .joined(let membership) = state else {
            send(error: ProtocolError(.notJoined, "Join a room before asking for its history."))
            return
        }
        guard historyWaiters == 0 else {
            historyWaiters &+= 1  // at most the request bucket's 20
            return
        }
        historyWaiters = 1
        hub.store.history(room: membership.roomID).assumeIsolated().whenComplete { result in
            let waiters = self.historyWaiters
            self.historyWaiters = 0
            switch result {
            case .success(let all):
                let messages = all.suffix(HistoryBudget.keptCount(sizes: all.map(\.frame.readableBytes), budget: self.historyBudget))
                let frame = WebSocketWire.text(ServerFrames.history(messages.map(\.frame), recovered: messages.count < all.count ? false : nil))
                // Each copy counts against the outbound limit: a client that asks again and
                // again without reading is closed as a slow consumer once they pass it.
                for _ in 0..<waiters {
                    guard self.write(frame, flush: false) else { break }
                }
                self.context?.flush()
            case .failure:
                for _ in 0..<waiters { self.send(error: ProtocolError(.unavailable, "History is unavailable; try again in a moment.")) }
            }
        }
    }

    /// The most a history reply may hold: half the outbound limit, so the reply leaves the other
    /// half for live messages while it drains (a client past the limit is closed as slow).
    private var historyBudget: Int { hub.configuration.outboundLimitBytes / 2 }

    private func leaveCurrentRoom() {
        let previous = state
        // Idle before the hub is told: removing a member whose subscribe is still pending fails
        // that subscribe at once, and its join must find itself superseded (no error reply).
        state = .idle
        lastID = nil
        duplicateFloor = nil
        switch previous {
        case .idle:
            return
        case .joining(let pending):
            hub.removeMember(self, room: pending.membership.roomID)
        case .joined(let m):
            hub.removeMember(self, room: m.roomID)
            hub.store.leave(room: m.roomID, sessionID: m.sessionID, username: m.username, timestamp: Clock.milliseconds())
                .whenFailure { [logger] error in
                    // The member's presence expires by itself (presence TTL): no ghost stays.
                    logger.debug("leave not recorded", metadata: ["room": "\(m.roomID)", "error": "\(error)"])
                }
        }
    }

    // MARK: Output

    /// Writes a fanned-out frame, already encoded (the hub flushes at the end of the batch).
    /// Returns whether a flush is needed.
    func deliver(_ frame: ByteBuffer, id: StreamID?) -> Bool {
        switch state {
        case .idle:
            return false
        case .joining(let pending):
            pending.buffered.append((id, frame))
            return false
        case .joined:
            guard context != nil, !closing else { return false }
            guard ResumePlan.isNew(id, after: lastID) else { return false }
            if let id { lastID = id }
            guard write(frame, flush: false, fanOut: true) else { return false }
            hub.counters.messagesOut += 1
            return true
        }
    }

    func flushNow() {
        flushScheduled = false
        context?.flush()
    }

    /// Every frame for this client is queued here, so one figure (the channel's queued bytes,
    /// which NIO turns into writability at `ECHO_OUTBOUND_LIMIT`) counts fan-out, history,
    /// session, errors, pings and pongs alike. A frame that arrives while the client is already
    /// past the limit closes it as a slow consumer instead of growing the queue.
    ///
    /// Fan-out checks the writability NIO keeps (a frame past the limit is the last one queued):
    /// reading the queued bytes per delivery would cost the hot path. A direct reply (history,
    /// session, errors, pongs) is checked exactly: one that would take the queue past the limit
    /// closes the client instead.
    @discardableResult
    private func write(_ frame: ByteBuffer, flush: Bool, fanOut: Bool = false) -> Bool {
        guard let context, !closing else { return false }
        guard writable, fanOut || fitsOutbound(frame.readableBytes) else {
            closeSlowConsumer()
            return false
        }
        context.write(wrapOutboundOut(frame), promise: nil)
        if flush { context.flush() }
        return true
    }

    /// Whether `bytes` more fit under `ECHO_OUTBOUND_LIMIT` with what is queued already.
    private func fitsOutbound(_ bytes: Int) -> Bool {
        guard let options = context?.channel.syncOptions,
              let queued = try? options.getOption(ChannelOptions.bufferedWritableBytes) else { return true }
        return queued + bytes <= hub.configuration.outboundLimitBytes
    }

    func send(_ json: ByteBuffer, flush: Bool = true) {
        write(WebSocketWire.text(json), flush: flush)
    }

    private func send(error: ProtocolError) {
        hub.counters.errors[error.code, default: 0] += 1
        send(ServerFrames.error(error))
    }

    /// Past the outbound limit: this client cannot keep up. Closing it bounds memory.
    private func closeSlowConsumer() {
        guard !closing else { return }
        hub.counters.slowConsumerCloses += 1
        logger.info("closing slow consumer", metadata: ["limit": "\(hub.configuration.outboundLimitBytes)"])
        _ = close(code: .policyViolation)
    }

    /// Called by the hub's ping timer: no traffic since the last ping means the peer is gone.
    func heartbeat() {
        guard let context, !closing else { return }
        if awaitingPong {
            logger.debug("no pong; closing")
            context.close(promise: nil)
            return
        }
        awaitingPong = true
        write(WebSocketWire.frame(.ping, payload: ByteBuffer()), flush: true)
    }

    /// Called by ``JoinDeadlines`` once `ECHO_JOIN_TIMEOUT` passed since the upgrade.
    func joinDeadlinePassed() {
        guard !hasJoined, !closing, context != nil else { return }
        // The queue names connections by identity, which a newer connection can reuse: only an
        // entry at least as old as this connection counts.
        let now = UInt32(truncatingIfNeeded: NIODeadline.now().uptimeNanoseconds / 1_000_000_000)
        guard now &- openedAt >= UInt32(hub.configuration.joinTimeoutSeconds) else { return }
        hub.counters.joinTimeoutCloses += 1
        logger.debug("no join in time; closing")
        _ = close(code: .policyViolation, reason: "No room joined within \(hub.configuration.joinTimeoutSeconds) s.")
    }

    // MARK: Inbound budget

    /// Charges a frame to the connection's inbound budget (`ECHO_INBOUND_BYTES_PER_SECOND`);
    /// once it is spent, reading stops until it refilled. A client sending large frames as fast as
    /// it can thus gets its bytes through at the budget's rate and cannot take the worker's loop
    /// from everyone else.
    private func chargeInbound(_ bytes: Int, context: ChannelHandlerContext) {
        let rate = hub.configuration.inboundBytesPerSecond
        guard rate > 0 else { return }
        let burst = hub.configuration.maxFrameBytes
        let now = NIODeadline.now().uptimeNanoseconds
        guard !inbound.charge(bytes, bytesPerSecond: rate, burst: burst, nowNanoseconds: now), !readPaused else { return }
        readPaused = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        scheduleReadResume(context: context)
    }

    private func scheduleReadResume(context: ChannelHandlerContext) {
        let rate = hub.configuration.inboundBytesPerSecond
        let burst = hub.configuration.maxFrameBytes
        let wait = inbound.pauseNanoseconds(bytesPerSecond: rate, burst: burst, nowNanoseconds: NIODeadline.now().uptimeNanoseconds)
        context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(max(wait, 1_000_000)))) {
            guard let context = self.context, self.readPaused else { return }
            if self.inbound.pauseNanoseconds(bytesPerSecond: rate, burst: burst, nowNanoseconds: NIODeadline.now().uptimeNanoseconds) > 0 {
                self.scheduleReadResume(context: context)
                return
            }
            self.readPaused = false
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        }
    }

    // MARK: Close

    /// How long a close frame may wait behind queued frames before the socket is dropped.
    static let closeGrace = TimeAmount.seconds(2)

    /// Sends a close frame with `code`, then closes the connection. A peer that does not read
    /// would keep the close frame (and everything queued before it) forever: after
    /// ``closeGrace`` the socket is reset, whatever is still queued.
    func close(code: WebSocketErrorCode, reason: String = "") -> EventLoopFuture<Void> {
        guard let context else { return hub.eventLoop.makeSucceededVoidFuture() }
        let closed = context.channel.closeFuture
        guard !closing else { return closed }
        closing = true
        var payload = ByteBuffer()
        payload.write(webSocketErrorCode: code)
        payload.writeString(reason)
        context.writeAndFlush(wrapOutboundOut(WebSocketWire.frame(.close, payload: payload))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: Self.closeGrace) {
            guard let context = self.context else { return }  // closed in time
            self.logger.debug("close frame not sent in time; resetting", metadata: ["code": "\(code)"])
            // SO_LINGER 0: the close discards what is queued in the kernel too and sends a reset,
            // instead of leaving an orphaned socket retrying to a peer that does not read.
            if let options = context.channel as? SocketOptionProvider {
                _ = options.setSoLinger(linger(l_onoff: 1, l_linger: 0))
            }
            context.close(promise: nil)
        }
        return closed
    }
}

enum Clock {
    static func milliseconds() -> Int {
        Int(Date().timeIntervalSince1970 * 1000)
    }
}

enum SessionID {
    /// 128 random bits as 32 hex digits (the system generator is cryptographically secure).
    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var bytes = [UInt8]()
        bytes.reserveCapacity(32)
        for _ in 0..<2 {
            let word = generator.next() as UInt64
            for shift in stride(from: 60, through: 0, by: -4) {
                bytes.append(digits[Int((word >> UInt64(shift)) & 0xF)])
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
