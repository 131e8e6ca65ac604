import EchoCore
import EchoShared
import Logging
import NIOCore
import NIOWebSocket

#if canImport(Glibc)
import Glibc
#endif

/// One WebSocket client. Every decision is ``ChatConnectionStateMachine``'s: this handler turns
/// NIO events, hub calls and room-store replies into the machine's events, and the machine's
/// actions into writes, hub calls and room-store calls.
///
/// It sits behind ``ClientFrameCheckHandler`` (masking and reserved bits) and, once a client
/// fragments, `NIOWebSocketFrameAggregator` (a message arrives whole): see
/// ``ChatServer/addWebSocketHandlers(to:after:hub:clientIP:)``.
///
/// Kept here rather than in the machine: the channel's writability and queued bytes (NIO's
/// figures, read where a frame is written), and ``flushScheduled`` (the hub's batch bookkeeping).
final class ChatConnectionHandler: ChannelInboundHandler, SpreadScheduled {
    typealias InboundIn = WebSocketFrame
    /// Frames are written already encoded (``WebSocketWire``); no frame encoder is in the pipeline.
    typealias OutboundOut = ByteBuffer
    typealias Membership = ChatConnectionStateMachine.Membership
    private typealias Action = ChatConnectionStateMachine.Action

    private let hub: ChatHub
    let clientIP: String
    private var context: ChannelHandlerContext?
    /// Internal for the +Resync extension; nothing else mutates it.
    var machine: ChatConnectionStateMachine
    /// The channel's writability, kept from `channelWritabilityChanged` (NIO fires it in the write
    /// that crosses the limit). Reading `channel.isWritable` per delivery touched the channel's
    /// separate atomic, which showed as 9 % of a worker's samples in S2 (docs/benchmarks.md).
    private var writable = true
    /// Whether the check handler and NIO's aggregator sit in front of this one (the connection has
    /// sent a fragmented message; see ``ClientFrameCheckHandler``).
    private var aggregating = false
    /// Set by the hub while this connection waits for the end-of-batch flush.
    var flushScheduled = false
    /// Its ping turn (the hub's ``ChatHub/connections``).
    var spreadPlace = SpreadPlace()

    init(hub: ChatHub, clientIP: String) {
        self.hub = hub
        self.clientIP = clientIP
        machine = ChatConnectionStateMachine(configuration: hub.connectionConfiguration, now: .now)
    }

    var joinedSessionID: String? { machine.joinedMembership?.sessionID }
    /// The joined member's granted features (nil: it announced none).
    var joinedFeatures: ChatFeatures? { machine.joinedMembership?.features }
    var joinedMembership: Membership? { machine.joinedMembership }
    /// The newest message this client has: after a Redis reconnect the hub replays the stream
    /// after it (ChatHub+Recovery.swift).
    var lastID: StreamID? { machine.lastID }

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
        run(machine.channelClosed(now: .now))
        hub.detach(self)
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // One connection's error closes that connection only; frame errors get their close code.
        if let (code, counted) = Self.closeCode(for: error) {
            run(machine.protocolViolation(code, counted: counted))
        } else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    /// The close code a frame error earns, and whether it counts as a protocol-error close; nil
    /// for errors that are not about a frame (the socket failed).
    static func closeCode(for error: Error) -> (CloseCode, counted: Bool)? {
        switch error {
        case let error as NIOWebSocketError:
            switch error {
            case .invalidFrameLength: return (.messageTooLarge, false)
            case .fragmentedControlFrame, .multiByteControlFrameLength: return (.protocolError, false)
            }
        case let error as NIOWebSocketFrameAggregator.Error:
            switch error {
            case .accumulatedFrameSizeIsTooLarge, .tooManyFragments, .nonFinalFragmentSizeIsTooSmall:
                return (.messageTooLarge, false)
            case .receivedNewFrameWithoutFinishingPrevious, .didReceiveFragmentBeforeReceivingTextOrBinaryFrame:
                return (.protocolError, false)
            }
        case is ClientFrameCheckHandler.Violation:
            return (.protocolError, true)
        default:
            return nil
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if !aggregating {
            guard ClientFrameCheckHandler.isAcceptable(frame) else {
                errorCaught(context: context, error: ClientFrameCheckHandler.Violation())
                return
            }
            if ClientFrameCheckHandler.startsFragments(frame) {
                startAggregating(context: context, first: data)
                return
            }
        }
        var payload = frame.data
        // Whole frames arrive masked; messages the aggregator put together arrive unmasked.
        if let key = frame.maskKey { WebSocketWire.unmask(&payload, key: (key[0], key[1], key[2], key[3])) }
        run(machine.frameReceived(frame.opcode, payload: payload, now: .now))
    }

    /// The first fragment of a connection: from now on every frame passes the check handler, then
    /// NIO's aggregator, both put in front of this handler; this one gets whole messages (and the
    /// control frames the aggregator passes on), already checked. The fragment that started it
    /// (checked above) goes straight to the aggregator.
    private func startAggregating(context: ChannelHandlerContext, first: NIOAny) {
        aggregating = true
        let check = ClientFrameCheckHandler()
        let aggregator = NIOWebSocketFrameAggregator(
            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: ChatServer.maxFragments,
            maxAccumulatedFrameSize: hub.configuration.maxFrameBytes)
        do {
            let pipeline = context.pipeline.syncOperations
            try pipeline.addHandler(check, position: .before(self))
            try pipeline.addHandler(aggregator, position: .after(check))
            try pipeline.context(handler: check).fireChannelRead(first)
        } catch {
            errorCaught(context: context, error: error)
        }
    }

    // MARK: Calls from the hub

    /// Writes a fanned-out frame, already encoded (the hub flushes at the end of the batch).
    /// Returns whether a flush is needed.
    ///
    /// The hot path: the machine decides (a state check and an id comparison, no allocation) and
    /// this writes; no action array is built per delivery.
    func deliver(_ frame: ByteBuffer, id: StreamID?, requires: ChatFeatures = []) -> Bool {
        guard machine.liveMessage(frame, id: id, requires: requires) == .write, write(frame, flush: false, fanOut: true) else { return false }
        hub.counters.messagesOut += 1
        return true
    }

    /// A fanned-out frame of a kind only some members receive (``RoomEvent/Kind/feature``).
    func deliver(_ frame: ByteBuffer, requiring feature: ChatFeatures, sender: ByteBuffer?) -> Bool {
        guard machine.liveEvent(requiring: feature, sender: sender) == .write, write(frame, flush: false, fanOut: true) else { return false }
        hub.counters.messagesOut += 1
        return true
    }

    func flushNow() {
        flushScheduled = false
        context?.flush()
    }

    /// Called by the hub's ping timer.
    func heartbeat() {
        guard context != nil else { return }
        run(machine.pingTick())
    }

    /// Called by ``JoinDeadlines`` once `ECHO_JOIN_TIMEOUT` passed since the upgrade.
    func joinDeadlinePassed() {
        guard context != nil else { return }
        run(machine.joinDeadlinePassed(now: .now))
    }

    /// A kick event of this connection's room: closes it with 4001 if it is the kicked member
    /// (``ChatConnectionStateMachine/kicked(target:author:)``). Returns whether it closes.
    @discardableResult
    func kickIfTargeted(target: ByteBuffer, author: ByteBuffer?) -> Bool {
        guard context != nil else { return false }
        let actions = machine.kicked(target: target, author: author)
        run(actions)
        return !actions.isEmpty
    }

    /// Sends a close frame with `code` (a drain), then closes; completes when the channel closed.
    func close(code: CloseCode) -> EventLoopFuture<Void> {
        guard let context else { return hub.eventLoop.makeSucceededVoidFuture() }
        run(machine.closeRequested(code))
        return context.channel.closeFuture
    }

    // MARK: Actions

    private func run(_ actions: [Action]) {
        for action in actions { perform(action) }
    }

    private func perform(_ action: Action) {
        switch action {
        case .write(let frame, let flush):
            write(frame, flush: flush)
        case .flush:
            context?.flush()
        case .checkJoinAdmission(let request, let leaves):
            hub.admission.allowJoin(ip: clientIP).assumeIsolated().whenSuccess { refusal in
                guard self.context != nil else { return }
                self.run(self.machine.joinAdmitted(
                    request, leaves: leaves, refusal: refusal, draining: self.hub.draining, sessionID: SessionID.make(), now: .now))
            }
        case .join(let request, let membership, let generation, let gate):
            let store = hub.store
            hub.addMember(self, room: request.roomID).flatMap {
                store.join(request, sessionID: membership.sessionID, timestamp: WallClock.milliseconds(), gate: gate)
            }.assumeIsolated().whenComplete { result in
                let joined: ChatConnectionStateMachine.JoinResult
                switch result {
                case .success(.joined(_, let messages, let recovered, let moderation)):
                    joined = .joined(messages: messages, recovered: recovered, moderation: moderation)
                case .success(.roomNotFound): joined = .roomNotFound
                case .success(.refused(let why)): joined = .refused(why)
                case .failure(let error): joined = .failed(error)
                }
                self.run(self.machine.joinCompleted(generation: generation, joined))
            }
        case .goLive(let room, let buffered):
            // false: the room's live feed was interrupted during this join; the hub catches this
            // connection up from the stream instead (ChatHub+Recovery.swift).
            if hub.memberJoined(self, room: room) {
                for live in buffered { _ = deliver(live.frame, id: live.id, requires: live.requires) }
            }
        case .removeMember(let room):
            hub.removeMember(self, room: room)
        case .leave(let membership, let timestamp):
            hub.store.leave(room: membership.roomID, sessionID: membership.sessionID, username: membership.username, timestamp: timestamp)
                .whenFailure { [logger] error in
                    // The member's presence expires by itself (presence TTL): no ghost stays.
                    logger.debug("leave not recorded", metadata: ["room": "\(membership.roomID)", "error": "\(error)"])
                }
        case .storeEvent(let room, let kind, let body, let clientID, let author):
            hub.store.chat(room: room, kind: kind, body: body, clientID: clientID, author: author, clientIP: clientIP).assumeIsolated().whenComplete { result in
                let chat: ChatConnectionStateMachine.ChatResult
                switch result {
                case .success(.stored): chat = .stored
                case .success(.storedUnreplicated(let id, let replicas)):
                    // Kept (everyone has it already); a failover before the replicas catch up could lose it.
                    self.hub.counters.chatsUnreplicated += 1
                    self.logger.debug("chat stored, replicas short", metadata: ["room": "\(room)", "id": "\(id)", "replicas": "\(replicas)"])
                    chat = .stored
                case .success(.duplicate(_, let stored)): chat = .duplicate(stored)
                case .success(.rateLimited(let retryAfter)): chat = .rateLimited(retryAfterMilliseconds: retryAfter)
                case .failure(let error): chat = .failed(error)
                }
                self.run(self.machine.chatCompleted(room: room, clientID: clientID, chat))
            }
        case .amendEvent(let room, let kind, let target, let body, let author, let clientID):
            hub.store.amend(room: room, kind: kind, target: target, body: body, author: author, clientID: clientID).assumeIsolated()
                .whenComplete { result in
                    let amended: ChatConnectionStateMachine.AmendResult
                    switch result {
                    case .success(let outcome): amended = .done(outcome)
                    case .failure(let error): amended = .failed(error)
                    }
                    self.run(self.machine.amendCompleted(clientID: clientID, amended))
                }
        case .reactEvent(let room, let target, let emoji, let sessionID, let author, let body):
            hub.store.react(room: room, target: target, emoji: emoji, sessionID: sessionID, author: author, bodyPrefix: body).assumeIsolated()
                .whenComplete { result in
                    let reacted: ChatConnectionStateMachine.ReactResult
                    switch result {
                    case .success(let outcome): reacted = .done(outcome)
                    case .failure(let error): reacted = .failed(error)
                    }
                    self.run(self.machine.reactCompleted(reacted))
                }
        case .moderate(let room, let operation, let ownerHash, let kicker):
            hub.store.moderate(room: room, operation, ownerHash: ownerHash, kicker: kicker, timestamp: WallClock.milliseconds())
                .assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let outcome): self.run(self.machine.moderationCompleted(.done(outcome)))
                    case .failure(let error): self.run(self.machine.moderationCompleted(.failed(error)))
                    }
                }
        case .publishEvent(let room, let event):
            hub.store.publish(room: room, event: event).whenFailure { [logger] error in
                logger.debug("event not published", metadata: ["room": "\(room)", "kind": "\(event.kind)", "error": "\(error)"])
            }
        case .readHistory(let room):
            hub.store.history(room: room).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let messages): self.run(self.machine.historyCompleted(.read(messages)))
                case .failure: self.run(self.machine.historyCompleted(.failed))
                }
            }
        case .count(let metric):
            count(metric)
        case .log(let entry):
            logger.log(level: entry.level, "\(entry.message)", metadata: entry.metadata.mapValues { .string($0) })
        case .pauseReading:
            context?.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        case .scheduleReadCheck(let nanoseconds):
            context?.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(nanoseconds))) {
                guard self.context != nil else { return }
                self.run(self.machine.readCheck(now: .now))
            }
        case .resumeReading:
            context?.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        case .sendClose(let code, let reason):
            sendClose(code: code, reason: reason)
        case .closeNow:
            context?.close(promise: nil)
        }
    }

    private func count(_ metric: ChatConnectionStateMachine.Metric) {
        switch metric {
        case .messageIn: hub.counters.messagesIn += 1
        case .error(let code): hub.counters.errors[code, default: 0] += 1
        case .rateLimited: hub.counters.rateLimited += 1
        case .rateLimiterUnavailable: hub.counters.rateLimiterUnavailable += 1
        case .slowConsumerClose: hub.counters.slowConsumerCloses += 1
        case .joinTimeoutClose: hub.counters.joinTimeoutCloses += 1
        case .protocolErrorClose: hub.counters.protocolErrorCloses += 1
        }
    }

    // MARK: Output

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
    func write(_ frame: ByteBuffer, flush: Bool, fanOut: Bool = false) -> Bool {
        guard let context, machine.isOpen else { return false }
        // Fan-out judges a client by what it had queued before this batch from Redis: a batch
        // goes out in one flush, so one frame past the limit on its own (an image larger than the
        // limit) must not make the next frame of the same batch look like a slow consumer's. One
        // batch (one read from Redis) bounds what this lets through.
        let withinBatch = fanOut && flushScheduled
        guard writable || withinBatch, fanOut || fitsOutbound(frame.readableBytes) else {
            run(machine.outboundFull())
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

    // MARK: Close

    /// How long a close frame may wait behind queued frames before the socket is dropped.
    static let closeGrace = TimeAmount.seconds(2)

    /// Sends a close frame with `code`, then closes the connection. A peer that does not read
    /// would keep the close frame (and everything queued before it) forever: after
    /// ``closeGrace`` the socket is reset, whatever is still queued.
    private func sendClose(code: CloseCode, reason: String) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(WebSocketWire.close(code: code.rawValue, reason: reason))).assumeIsolated().whenComplete { _ in
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
    }
}

extension ChatConnectionStateMachine.Instant {
    /// This moment on both clocks.
    static var now: Self {
        Self(wallMilliseconds: WallClock.milliseconds(), uptimeNanoseconds: NIODeadline.now().uptimeNanoseconds)
    }
}
