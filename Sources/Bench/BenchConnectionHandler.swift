import EchoBenchKit
import EchoCore
import EchoTLS
import NIOCore

/// One benchmark client, the only handler in its pipeline: upgrades to WebSocket, joins its room
/// (an end-to-end encrypted one with `--encrypted`: challenge, then a join proving the room's key),
/// sends stamped chat messages when it is a sender, and books every delivery in its loop's
/// ``LoopRecorder``.
///
/// It reads and writes the wire itself (``BenchWire``) instead of using NIO's HTTP client upgrader
/// and frame codec: that cut the generator's CPU per join and per delivery (docs/benchmarks.md),
/// and the generator's CPU is CPU the server does not get. Everything here runs on the channel's
/// event loop; a frame costs a header check, a few byte searches, a tracker update and a
/// histogram increment.
final class BenchConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

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
        case upgrading
        /// Encrypted rooms: the challenge was asked for, the join waits for its nonce.
        case awaitingChallenge
        case awaitingSession
        case awaitingHistory
        case joined
        case closed
    }

    private let role: Role
    private let recorder: LoopRecorder
    private let rooms: BenchRoomRegistry
    private let joinAction: String
    /// Joins an encrypted room and sends ciphertext chats.
    private let encrypted: Bool
    /// Succeeds with the clock reading at which `history` arrived; fails when the server refuses.
    private let joined: EventLoopPromise<UInt64>
    private let target: BenchTarget
    private let maxFrameSize: Int
    /// Keep this connection's TLS session for the next connection of the loop (`--tls-resume`).
    private let resumesTLS: Bool
    private let upgradeKey: String
    private var state = State.upgrading
    /// Over TLS: false until the handshake ends (a connection closed before that failed it).
    private var tlsReady = false
    private var context: ChannelHandlerContext?
    /// The start of a frame (or of the upgrade response) whose rest has not arrived yet.
    private var partial: ByteBuffer?
    private var trackers: [BenchSequenceTracker]
    private var nextSequence = 0
    private var inFlight = 0
    private(set) var hasUnflushedWrites = false
    /// True between `channelRead` and `channelReadComplete`.
    private var reading = false
    private let chat: BenchChatRequest
    /// Where this connection's stamps are in the chats it receives.
    private let stamps: BenchStamp.Encoding
    private var scratch: [UInt8] = []
    /// Where outgoing frames are assembled.
    private var frameBytes: [UInt8] = []

    init(
        role: Role, recorder: LoopRecorder, rooms: BenchRoomRegistry, joinAction: String, encrypted: Bool,
        target: BenchTarget, maxFrameSize: Int, resumesTLS: Bool = false, joined: EventLoopPromise<UInt64>
    ) {
        self.encrypted = encrypted
        self.resumesTLS = resumesTLS
        self.role = role
        self.recorder = recorder
        self.rooms = rooms
        self.joinAction = joinAction
        self.target = target
        self.maxFrameSize = maxFrameSize
        self.joined = joined
        upgradeKey = BenchWire.upgradeKey(recorder.maskKeys.next(), recorder.maskKeys.next())
        trackers = Array(repeating: BenchSequenceTracker(), count: role.members)
        chat = BenchChatRequest(roomID: role.roomID, messageSize: recorder.settings.messageSize, encrypted: encrypted, using: &recorder.maskKeys)
        stamps = encrypted ? .ciphertext : .text
        scratch.reserveCapacity(chat.size + 128)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// ``BenchConnector`` adds this handler before connecting, so the connection becomes active
    /// after it is in place: the upgrade request goes out here, once (over TLS, once the handshake
    /// has ended).
    func channelActive(context: ChannelHandlerContext) {
        if !target.tls { sendUpgrade(context: context) }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let handshake = event as? TLSHandshakeCompleted, state == .upgrading {
            tlsReady = true
            recorder.countHandshake(resumed: handshake.sessionReused)
            sendUpgrade(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func sendUpgrade(context: ChannelHandlerContext) {
        let request = BenchWire.upgradeRequest(host: hostHeader, path: target.path, key: upgradeKey)
        var buffer = context.channel.allocator.buffer(capacity: request.count)
        buffer.writeBytes(request)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    private var hostHeader: String {
        target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"
    }

    /// The join, or in an encrypted room first the challenge its join must answer.
    private func startJoining() {
        if encrypted {
            state = .awaitingChallenge
            write(opcode: BenchWire.opcodeText, payload: BenchRequest.challenge)
            flush()
        } else {
            state = .awaitingSession
            sendJoin(proof: nil)
        }
    }

    private func sendJoin(proof: BenchKeyProof?) {
        write(opcode: BenchWire.opcodeText, payload: BenchRequest.join(roomID: role.roomID, username: role.username, action: joinAction, proof: proof))
        flush()
    }

    /// Signs the challenge with the room's key, as a page holding the room's link does.
    private func answerChallenge(nonce: String) {
        let seed = BenchKeyProof.seed(roomID: role.roomID)
        guard let publicKey = Crypto.ed25519PublicKey(seed: seed),
              let signature = Crypto.ed25519Sign(seed: seed, message: RoomEncryption.signedMessage(roomID: role.roomID, nonce: nonce))
        else {
            recorder.countError("ed25519 signing failed")
            giveUp("SIGNING_FAILED")
            return
        }
        state = .awaitingSession
        sendJoin(proof: BenchKeyProof(publicKey: publicKey, signature: signature))
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
        var buffer = unwrapInboundIn(data)
        if var earlier = partial {
            partial = nil
            earlier.writeBuffer(&buffer)
            buffer = earlier
        }
        if state == .upgrading {
            switch buffer.withUnsafeReadableBytes({ BenchWire.upgradeResponse($0, key: upgradeKey) }) {
            case .incomplete:
                partial = buffer
                return
            case .refused(let reason):
                recorder.countError("upgrade refused: \(reason)")
                giveUp("UPGRADE_REFUSED")
                return
            case .accepted(let headerLength):
                buffer.moveReaderIndex(forwardBy: headerLength)
                startJoining()
            }
        }
        // Every whole frame in the buffer; the start of an unfinished one waits for the next read.
        while state != .closed {
            switch buffer.withUnsafeReadableBytes({ BenchWire.frameHeader($0, maxPayload: maxFrameSize) }) {
            case .incomplete:
                if buffer.readableBytes > 0 { partial = buffer }
                return
            case .invalid(let reason):
                recorder.countError("bad frame: \(reason)")
                giveUp("BAD_FRAME")
                return
            case .frame(let opcode, let headerLength, let payloadLength):
                buffer.moveReaderIndex(forwardBy: headerLength)
                let payload = buffer.readSlice(length: payloadLength)!
                handleFrame(opcode: opcode, payload: payload)
            }
        }
    }

    private func handleFrame(opcode: UInt8, payload: ByteBuffer) {
        switch opcode {
        case BenchWire.opcodeText:
            let kind = payload.withUnsafeReadableBytes {
                BenchFrame.classify($0, expectingHistory: state == .awaitingHistory, stamps: stamps)
            }
            handle(kind)
        case BenchWire.opcodePing:
            // The server pings every 30 s and closes connections that stay silent: answer.
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: payload.readableBytesView)
            write(opcode: BenchWire.opcodePong, payload: scratch)
            if !reading { flush() }
        case BenchWire.opcodeClose:
            // The close code says why the server gave up on us (1008 slow consumer, 1001 drain...).
            var payload = payload
            let code = payload.readInteger(as: UInt16.self).map(String.init) ?? "none"
            recorder.errorsByCode["close \(code)", default: 0] += 1
            context?.close(promise: nil)
        default:
            break
        }
    }

    /// The connection cannot go on: a join under way fails with `code`, and the connection closes.
    private func giveUp(_ code: String) {
        if state != .joined { joined.fail(BenchJoinError(code: code)) }
        leave()
        context?.close(promise: nil)
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
            recorder.counts.recordGap(outcome)
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
        case .challenge(let nonce):
            if state == .awaitingChallenge { answerChallenge(nonce: nonce) }
        case .session:
            if state == .awaitingSession { state = .awaitingHistory }
        case .history:
            if state == .awaitingHistory || state == .awaitingSession {
                becomeJoined()
            } else if state == .joined {
                // A resync: what this member missed is announced, not silently skipped.
                recorder.counts.resyncs += 1
                for index in trackers.indices { trackers[index].tell() }
            }
        case .error(let code):
            recorder.countError(code)
            switch state {
            case .upgrading, .awaitingChallenge, .awaitingSession, .awaitingHistory:
                giveUp(code)
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
        // The history came after the server's TLS 1.3 tickets, so the session now carries one.
        if resumesTLS, let tls = try? context?.pipeline.syncOperations.handler(type: TLSHandler.self), let session = tls.session {
            recorder.tlsSession = session
        }
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
        case .upgrading where target.tls && !tlsReady:
            // TLSHandler logs the reason (a certificate refused, a protocol error) at debug: DEBUG=1.
            joined.fail(BenchJoinError(code: "TLS_HANDSHAKE_FAILED"))
        case .upgrading, .awaitingChallenge, .awaitingSession, .awaitingHistory:
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
        guard state == .joined else { return }
        let measured = recorder.phase == .measure
        let stamp = BenchStamp(sender: role.memberIndex, sequence: nextSequence, measured: measured, sentAtNanoseconds: BenchClock.nanoseconds())
        nextSequence += 1
        inFlight += 1
        chat.write(stamp, into: &scratch, using: &recorder.maskKeys)
        if measured {
            recorder.counts.sent += 1
            recorder.counts.expected += rooms.members(role.roomIndex)
        }
        recorder.intervalSent += 1
        write(opcode: BenchWire.opcodeText, payload: scratch)
    }

    /// Writes one masked frame (not flushed).
    private func write(opcode: UInt8, payload: [UInt8]) {
        guard let context else { return }
        frameBytes.removeAll(keepingCapacity: true)
        let maskKey = UInt32(truncatingIfNeeded: recorder.maskKeys.next())
        payload.withUnsafeBytes { BenchWire.appendMaskedFrame(opcode: opcode, payload: $0, maskKey: maskKey, to: &frameBytes) }
        var buffer = context.channel.allocator.buffer(capacity: frameBytes.count)
        buffer.writeBytes(frameBytes)
        context.write(wrapOutboundOut(buffer), promise: nil)
        hasUnflushedWrites = true
    }

    func flush() {
        guard hasUnflushedWrites, let context else { return }
        hasUnflushedWrites = false
        context.flush()
    }
}

struct BenchJoinError: Error, CustomStringConvertible {
    var code: String
    var description: String { "join refused: \(code)" }
}
