import EchoShared
import NIOCore
import NIOWebSocket

/// Frames and the requests they carry: join, chat, leave, history, ping, typing, edit, delete,
/// react (docs/protocol.md).
extension ChatConnectionStateMachine {
    /// A whole message or control frame from the client, `payload` unmasked (fragments were put
    /// together by `NIOWebSocketFrameAggregator`; masking and reserved bits were checked before).
    /// A fragmented message is charged to the inbound budget, and counts as traffic for the ping
    /// check, once it is whole: it is at most `ECHO_MAX_FRAME_BYTES`, one burst of the budget.
    public mutating func frameReceived(_ opcode: WebSocketOpcode, payload: ByteBuffer, now: Instant) -> [Action] {
        // Once closing, every frame is ignored, the peer's answering close frame too: the socket
        // closes when our close frame is written (or is reset after the grace period).
        guard isOpen else { return [] }
        var actions: [Action] = []
        chargeInbound(payload.readableBytes, now: now, into: &actions)
        modify { $0.liveness = .active }
        switch opcode {
        case .text:
            guard payload.withUnsafeReadableBytes(UTF8Validation.isValid) else {
                actions += close(.invalidPayload)
                return actions
            }
            actions += text(payload, now: now)
        case .binary:
            actions.append(.count(.error(.binaryNotSupported)))
            actions += close(.unacceptableData)
        case .ping:
            actions.append(.write(WebSocketWire.frame(.pong, payload: payload), flush: true))
        case .connectionClose:
            // Echo the client's close (or fail a malformed one), then hang up.
            let code = ClientCloseFrame.answer(to: payload)
            if code == .protocolError { actions.append(.count(.protocolErrorClose)) }
            actions += close(code)
        case .pong:
            break
        default:
            // Reserved opcodes (3–7, 0xB–0xF): RFC 6455 §5.2 says fail the connection. A stray
            // continuation never gets here (the aggregator fails it).
            actions.append(.count(.protocolErrorClose))
            actions += close(.protocolError)
        }
        return actions
    }

    private mutating func text(_ bytes: ByteBuffer, now: Instant) -> [Action] {
        let request: ClientRequest
        do {
            request = try ClientRequest.parse(bytes, limits: configuration.limits)
        } catch {
            return send(error: error)
        }
        switch request {
        case .join(let join):
            // The challenge is used up by this join, whatever comes of it: a proof counts once.
            let nonce = modify { c -> [UInt8]? in
                defer { c.challenge = nil }
                return c.challenge
            } ?? nil
            if let proof = join.keyProof, !(nonce.map { proof.proves(roomID: join.roomID, nonce: $0) } ?? false) {
                return send(error: ProtocolError(.badKeyProof, nonce == nil
                    ? "Ask for a challenge before joining an encrypted room."
                    : "The key proof does not match this room and challenge."))
            }
            // Join attempts per client IP, counted in Redis across workers (docs/security.md). A
            // leave sent after this join and handled while the check runs cancels it, as it would
            // cancel a join in flight.
            return [.checkJoinAdmission(join, leaves: connection?.leaves ?? 0)]
        case .challenge:
            if let refused = takeRequestToken(now: now) { return refused }
            let nonce = configuration.makeNonce()
            modify { $0.challenge = nonce }
            return send(ServerFrames.challenge(nonce: Base64URL.encode(nonce)))
        case .chat(let chat):
            return self.chat(chat, now: now)
        case .leave:
            modify { $0.leaves &+= 1 }
            return leaveCurrentRoom(now: now)
        case .history:
            return history(now: now)
        case .ping:
            return send(ServerFrames.pong(timestamp: now.wallMilliseconds))
        case .typing:
            return typing(now: now)
        case .edit(let edit):
            return amend(.edit, edit, now: now)
        case .delete(let delete):
            return amend(.delete, delete, now: now)
        case .react(let react):
            return self.react(react, now: now)
        case .kick(let request), .lock(let request):
            return moderate(request, now: now)
        }
    }

    // MARK: Join

    /// The per-IP join check answered (`refusal` nil: allowed). `leaves` is what
    /// ``Action/checkJoinAdmission(_:leaves:)`` carried; `sessionID` is fresh for this join.
    public mutating func joinAdmitted(
        _ request: JoinRequest, leaves: UInt8, refusal: ProtocolError?, draining: Bool, sessionID: String, now: Instant
    ) -> [Action] {
        guard let connection, isOpen, connection.leaves == leaves else { return [] }
        if let refusal { return send(error: refusal) }
        if let refused = takeRequestToken(now: now) { return refused }
        if draining {
            return send(error: ProtocolError(.unavailable, "This server is restarting; reconnect and join again."))
        }
        var actions = leaveCurrentRoom(now: now)
        let membership = Membership(
            roomID: request.roomID, sessionID: sessionID, username: request.username, features: request.features,
            authorHash: request.authorKey.flatMap { configuration.authors.hash($0) }, verifier: request.keyProof?.verifier)
        // Only a client that can use it is offered an owner key (and with no secret read yet, none:
        // the room is made without an owner).
        var offered: OwnerKey? = nil
        var gate = JoinGate(
            authorHash: membership.authorHash, presentedOwnerHash: request.ownerKey.flatMap(configuration.authors.hash(owner:)))
        if request.action == .create, request.features?.contains(.moderation) == true {
            let key = configuration.makeOwnerKey()
            if let hash = configuration.authors.hash(owner: key) {
                offered = key
                gate.newOwnerHash = hash
            }
        }
        let generation = modify { c -> Int in
            c.generation += 1
            c.room = .joining(Joining(membership: membership, since: request.since, generation: c.generation, offeredOwnerKey: offered))
            return c.generation
        } ?? 0
        actions.append(.log(LogEntry(level: .debug, message: "join", metadata: ["room": request.roomID, "action": request.action.rawValue])))
        actions.append(.join(request, membership, generation: generation, gate: gate))
        return actions
    }

    /// The join of `generation` finished. A superseded join (a newer join, a leave, a close came
    /// meanwhile) is dropped silently: its subscription was released when it was superseded.
    public mutating func joinCompleted(generation: Int, _ result: JoinResult) -> [Action] {
        guard let connection, case .joining(let pending) = connection.room, pending.generation == generation else { return [] }
        let membership = pending.membership
        switch result {
        case .joined(let stored, let recovered, let moderation):
            let all = stored.compactMap { $0.delivered(to: membership) }
            // The oldest messages that do not fit the history budget are left out; the reply then
            // says recovered:false, so a resuming client knows it may have a gap.
            let messages = all.suffix(HistoryBudget.keptCount(sizes: all.map(\.frame.readableBytes), budget: historyBudget))
            let trimmed = messages.count < all.count
            let ids = messages.map(\.id)
            let lastSeen = ResumePlan.lastSeen(history: ids, since: trimmed ? nil : pending.since)
            modify {
                $0.room = .joined(Joined(membership: membership, lastID: lastSeen, duplicateFloor: ResumePlan.duplicateFloor(history: ids, recovered: recovered)))
                $0.joinDeadline = .met
            }
            guard isOpen else { return [] }
            return [
                .write(WebSocketWire.text(ServerFrames.session(
                    sessionID: membership.sessionID, roomID: membership.roomID, username: membership.username, limits: configuration.clientLimits,
                    features: membership.features, encrypted: membership.encrypted,
                    moderation: membership.receives(.moderation)
                        ? SessionModeration(locked: moderation.locked, ownerKey: moderation.created ? pending.offeredOwnerKey : nil) : nil)),
                    flush: false),
                .write(WebSocketWire.text(ServerFrames.history(messages.map(\.frame), recovered: trimmed ? false : recovered)), flush: false),
                // false from the hub: the room's live feed was interrupted during this join, so
                // the buffer has a hole; the hub replays the stream after lastID instead.
                .goLive(room: membership.roomID, buffered: Self.liveAfterHistory(pending.buffered.filter { membership.receives($0.requires) }, lastSeen: lastSeen)),
                .flush,
            ]
        case .roomNotFound:
            modify { $0.room = .idle }
            return [.removeMember(room: membership.roomID)]
                + send(error: ProtocolError(.roomNotFound, "Room \(membership.roomID) does not exist. Check the code, or create a new room."))
        case .refused(let why):
            modify { $0.room = .idle }
            let error = switch why {
            case .locked: ProtocolError(.roomLocked, "Room \(membership.roomID) is locked by its owner.")
            case .keyRequired: ProtocolError(.keyRequired, "Room \(membership.roomID) is end-to-end encrypted: open it with its whole link, key included.")
            case .wrongKey: ProtocolError(.badKeyProof, "This key does not open room \(membership.roomID).")
            case .notEncrypted: ProtocolError(.roomNotEncrypted, "Room \(membership.roomID) is not end-to-end encrypted.")
            }
            return [.removeMember(room: membership.roomID)] + send(error: error)
        case .failed(let error):
            modify { $0.room = .idle }
            return [
                .removeMember(room: membership.roomID),
                .log(LogEntry(level: .warning, message: "join failed", metadata: ["room": membership.roomID, "error": "\(error)"])),
            ] + send(error: ProtocolError(.unavailable, "Chat storage is unavailable; try again in a moment."))
        }
    }

    /// See ``ResumePlan/liveAfterHistory(_:lastSeen:)``.
    static func liveAfterHistory(_ buffered: [LiveMessage], lastSeen: StreamID?) -> [LiveMessage] {
        ResumePlan.liveAfterHistory(buffered.map { (id: $0.id, frame: $0) }, lastSeen: lastSeen).map(\.frame)
    }

    /// Leaves the room joined or being joined. Idle before the hub is told: removing a member
    /// whose subscribe is still pending fails that subscribe at once, and its join must find
    /// itself superseded (no error reply).
    mutating func leaveCurrentRoom(now: Instant) -> [Action] {
        let previous = modify { c -> Room in
            defer { c.room = .idle }
            return c.room
        }
        switch previous {
        case nil, .idle?:
            return []
        case .joining(let pending)?:
            return [.removeMember(room: pending.membership.roomID)]
        case .joined(let joined)?:
            return [.removeMember(room: joined.membership.roomID), .leave(joined.membership, timestamp: now.wallMilliseconds)]
        }
    }

    // MARK: Live messages

    /// A message from the room's channel (fan-out), or one the hub replays after a Redis fault.
    /// The hot path: a joined connection decides with a state check and an id comparison; nothing
    /// is allocated.
    ///
    /// `requires`: the features a member needs to be sent it (``StoredMessage/requires``); a
    /// member without them still moves its position past it, so it is not replayed later.
    public mutating func liveMessage(_ frame: ByteBuffer, id: StreamID?, requires: ChatFeatures = []) -> LiveDecision {
        guard case .open(let c) = state else { return .none }
        switch c.room {
        case .idle:
            return .none
        case .joined(let joined):
            guard ResumePlan.isNew(id, after: joined.lastID) else { return .none }
            if let id { joined.lastID = id }
            guard requires.isEmpty || joined.membership.receives(requires) else { return .none }
            return .write
        case .joining(let pending):
            pending.buffered.append(LiveMessage(id: id, frame: frame, requires: requires))
            return .none
        }
    }

    /// A live event of a kind that only members granted `feature` receive (``RoomEvent/Kind/feature``),
    /// never the member who sent it (`sender`, a session ID). Not buffered during a join (the
    /// member has no `session` frame yet, so no features) and, having no position, never a duplicate.
    public func liveEvent(requiring feature: ChatFeatures, sender: ByteBuffer?) -> LiveDecision {
        guard isOpen, let membership = joinedMembership, membership.features?.contains(feature) == true else { return .none }
        if let sender, sender.readableBytesView.elementsEqual(membership.sessionID.utf8) { return .none }
        return .write
    }

    /// The room's history no longer reaches back to this member's position (trimmed, or Redis
    /// restarted without its data): it gets the room's recent history with `recovered:false` and
    /// continues from the newest message in it. Returns the frame to write (the hub flushes).
    public mutating func resync(history: [StoredMessage]) -> ByteBuffer? {
        guard isOpen, let joined else { return nil }
        let history = history.compactMap { $0.delivered(to: joined.membership) }
        joined.lastID = history.last?.id
        joined.duplicateFloor = history.first?.id
        return WebSocketWire.text(ServerFrames.history(history.map(\.frame), recovered: false))
    }

    // MARK: Chat

    private mutating func chat(_ request: ChatRequest, now: Instant) -> [Action] {
        guard let membership = joinedMembership else {
            return send(error: ProtocolError(.notJoined, "Join a room before sending messages.", clientID: request.clientID))
        }
        if let room = request.roomID, room != membership.roomID {
            return send(error: ProtocolError(.roomMismatch, "Room mismatch: this connection is in room \(membership.roomID).", clientID: request.clientID))
        }
        if (request.sealed != nil) != membership.encrypted {
            return send(error: Self.mismatch(membership, clientID: request.clientID))
        }
        let body = ServerFrames.chatBody(sender: membership.username, sessionID: membership.sessionID, request: request, timestamp: now.wallMilliseconds)
        return [.count(.messageIn), .storeEvent(room: membership.roomID, kind: .chat, body: body, clientID: request.clientID, author: membership.authorHash)]
    }

    /// The chat script answered. Once the connection is closing, nothing is written or counted.
    public mutating func chatCompleted(room: String, clientID: String?, _ result: ChatResult) -> [Action] {
        guard isOpen else { return [] }
        switch result {
        case .stored:
            return []  // Everyone, this sender included, receives it through the room's channel.
        case .duplicate(let stored):
            // A copy this connection gets through the room anyway is not sent twice.
            guard let stored, ResumePlan.confirmsDuplicate(stored.id, floor: duplicateFloor) else { return [] }
            return send(stored.frame)
        case .rateLimited(let retryAfter):
            return [.count(.rateLimited)]
                + send(error: ProtocolError(.rateLimited, "Too many messages; wait a moment.", retryAfterMilliseconds: retryAfter, clientID: clientID))
        case .failed(let error):
            // Unconfirmed, never half-done: the script stores and publishes atomically, so the
            // message either reached everyone or no one. After a timeout Redis may still run it;
            // a retry with the same clientId is never stored twice.
            var actions: [Action] = configuration.rateLimited ? [.count(.rateLimiterUnavailable)] : []
            actions.append(.log(LogEntry(level: .warning, message: "chat not confirmed", metadata: ["room": room, "error": "\(error)"])))
            return actions + send(error: ProtocolError(
                .unavailable, "Chat storage did not confirm the message. Retry with the same clientId; it will not be stored twice.", clientID: clientID))
        }
    }

    // MARK: Typing

    /// At most one `typing` per connection in this time; more are dropped silently (a client
    /// sends one while its user types, so a dropped one is never missed for long).
    static let typingInterval: UInt64 = 2_000_000_000

    private mutating func typing(now: Instant) -> [Action] {
        if let refused = takeRequestToken(now: now) { return refused }
        guard let membership = joinedMembership else {
            return send(error: ProtocolError(.notJoined, "Join a room before sending typing."))
        }
        let allowed = modify { c -> Bool in
            guard now.uptimeNanoseconds >= c.typingQuietUntil else { return false }
            c.typingQuietUntil = now.uptimeNanoseconds &+ Self.typingInterval
            return true
        } ?? false
        guard allowed else { return [] }
        let body = ServerFrames.typing(sessionID: membership.sessionID, username: membership.username)
        return [.publishEvent(room: membership.roomID, .typing(body, sender: ByteBuffer(string: membership.sessionID)))]
    }

    // MARK: Edit and delete

    private mutating func amend(_ kind: RoomEvent.Kind, _ request: AmendRequest, now: Instant) -> [Action] {
        if let refused = takeRequestToken(now: now) { return refused }
        let verb = kind == .edit ? "edit" : "delete"
        guard let membership = joinedMembership else {
            return send(error: ProtocolError(.notJoined, "Join a room before you \(verb) a message.", clientID: request.clientID))
        }
        guard let author = membership.authorHash else {
            return send(error: ProtocolError(.notAuthor, "Only the author of a message can \(verb) it (join with your authorKey).", clientID: request.clientID))
        }
        if kind == .edit, (request.sealed != nil) != membership.encrypted {
            return send(error: Self.mismatch(membership, clientID: request.clientID))
        }
        let body: ByteBuffer
        if let sealed = request.sealed {
            body = ServerFrames.editBody(messageID: request.messageID, sealed: sealed, editedAt: now.wallMilliseconds)
        } else if let text = request.text {
            body = ServerFrames.editBody(messageID: request.messageID, text: text, editedAt: now.wallMilliseconds)
        } else {
            body = ServerFrames.deleteBody(messageID: request.messageID)
        }
        return [.amendEvent(room: membership.roomID, kind: kind, target: request.messageID, body: body, author: author, clientID: request.clientID)]
    }

    /// The edit or delete script answered: nothing to write when stored (members granted `edit`,
    /// this one too, receive it through the room), else the refusal.
    public mutating func amendCompleted(clientID: String?, _ result: AmendResult) -> [Action] {
        guard isOpen else { return [] }
        switch result {
        case .done(.stored), .done(.duplicate):
            return []
        case .done(.notFound):
            return send(error: ProtocolError(.messageNotFound, "That message is not in this room's history (deleted, or too old).", clientID: clientID))
        case .done(.notAuthor):
            return send(error: ProtocolError(.notAuthor, "Only the author of a message can change it.", clientID: clientID))
        case .done(.windowClosed):
            return send(error: ProtocolError(.editWindowClosed, "A message can be edited only in the first minutes after it was sent.", clientID: clientID))
        case .failed(let error):
            return [.log(LogEntry(level: .warning, message: "edit not confirmed", metadata: ["error": "\(error)"]))]
                + send(error: ProtocolError(.unavailable, "Chat storage did not confirm the change; try again.", clientID: clientID))
        }
    }

    // MARK: Reactions

    private mutating func react(_ request: ReactRequest, now: Instant) -> [Action] {
        if let refused = takeRequestToken(now: now) { return refused }
        guard let membership = joinedMembership else {
            return send(error: ProtocolError(.notJoined, "Join a room before you react to a message."))
        }
        if request.sealed != membership.encrypted {
            return send(error: membership.encrypted
                ? ProtocolError(.invalidPayload, "This room is end-to-end encrypted: emoji must be a sealed reaction token.")
                : ProtocolError(.invalidPayload, "emoji must be one emoji of at most \(InputRules.maxEmojiBytes) bytes."))
        }
        let body = ServerFrames.reactBodyPrefix(messageID: request.messageID, emoji: request.emoji, username: membership.username)
        return [.reactEvent(
            room: membership.roomID, target: request.messageID, emoji: request.emoji, sessionID: membership.sessionID,
            author: membership.authorHash, body: body)]
    }

    /// The reaction script answered: nothing to write when stored (members granted `react`, this
    /// one too, receive it through the room, so every tab of this member sees the new state),
    /// else the refusal.
    public mutating func reactCompleted(_ result: ReactResult) -> [Action] {
        guard isOpen else { return [] }
        switch result {
        case .done(.stored):
            return []
        case .done(.notFound):
            return send(error: ProtocolError(.messageNotFound, "That message is not in this room's history (deleted, or too old)."))
        case .done(.tooMany):
            return send(error: ProtocolError(
                .tooManyReactions, "A message can have at most \(ReactScript.maxEmoji) different reactions; use one it already has."))
        case .failed(let error):
            return [.log(LogEntry(level: .warning, message: "reaction not confirmed", metadata: ["error": "\(error)"]))]
                + send(error: ProtocolError(.unavailable, "Chat storage did not confirm the reaction; try again."))
        }
    }

    // MARK: Moderation

    private mutating func moderate(_ request: ModerationRequest, now: Instant) -> [Action] {
        if let refused = takeRequestToken(now: now) { return refused }
        guard let membership = joinedMembership else {
            return send(error: ProtocolError(.notJoined, "Join a room before moderating it."))
        }
        if case .kick(let target) = request.operation, target == membership.sessionID {
            return send(error: ProtocolError(.invalidPayload, "You cannot kick yourself."))
        }
        guard let ownerHash = configuration.authors.hash(owner: request.ownerKey) else {
            return send(error: ProtocolError(.unavailable, "Chat storage is unavailable; try again in a moment."))
        }
        return [.moderate(room: membership.roomID, request.operation, ownerHash: ownerHash, kicker: membership.authorHash)]
    }

    /// The moderation script answered: nothing to write when done (the room hears of it through
    /// its channel) or when the session to kick is gone already; else the refusal.
    public mutating func moderationCompleted(_ result: ModerationResult) -> [Action] {
        guard isOpen else { return [] }
        switch result {
        case .done(.done), .done(.notMember):
            return []
        case .done(.notOwner):
            return send(error: ProtocolError(.notOwner, "Only the room's owner can do that (ownerKey does not match)."))
        case .done(.yourself):
            return send(error: ProtocolError(.invalidPayload, "You cannot kick yourself."))
        case .failed(let error):
            return [.log(LogEntry(level: .warning, message: "moderation not confirmed", metadata: ["error": "\(error)"]))]
                + send(error: ProtocolError(.unavailable, "Chat storage did not confirm that; try again."))
        }
    }

    /// A kick event from the room's channel: closes this connection with 4001 when it is the
    /// kicked session, or another connection of the same author (another tab). Returns the close.
    public mutating func kicked(target: ByteBuffer, author: ByteBuffer?) -> [Action] {
        guard isOpen, let membership = joinedMembership else { return [] }
        let sameSession = target.readableBytesView.elementsEqual(membership.sessionID.utf8)
        var sameAuthor = false
        if let author, let own = membership.authorHash { sameAuthor = author.readableBytesView.elementsEqual(own.utf8) }
        guard sameSession || sameAuthor else { return [] }
        return [.log(LogEntry(level: .debug, message: "kicked", metadata: ["room": membership.roomID]))]
            + close(.kicked, reason: "Removed from the room by its owner.")
    }

    // MARK: History

    private mutating func history(now: Instant) -> [Action] {
        if let refused = takeRequestToken(now: now) { return refused }
        guard let membership = joinedMembership else {
            return send(error: ProtocolError(.notJoined, "Join a room before asking for its history."))
        }
        return modify { c -> [Action] in
            switch c.historyRead {
            case .inFlight(let waiters):
                c.historyRead = .inFlight(waiters: waiters &+ 1)  // at most the request bucket's 20
                return []
            case .none:
                c.historyRead = .inFlight(waiters: 1)
                return [.readHistory(room: membership.roomID)]
            }
        } ?? []
    }

    /// The history read answered: one reply per waiting request.
    public mutating func historyCompleted(_ result: HistoryResult) -> [Action] {
        let waiters = modify { c -> Int in
            defer { c.historyRead = .none }
            if case .inFlight(let waiters) = c.historyRead { return Int(waiters) }
            return 0
        } ?? 0
        guard isOpen, waiters > 0 else { return [] }
        switch result {
        case .read(let stored):
            let membership = joinedMembership
            let all = membership.map { membership in stored.compactMap { $0.delivered(to: membership) } } ?? []
            let messages = all.suffix(HistoryBudget.keptCount(sizes: all.map(\.frame.readableBytes), budget: historyBudget))
            let frame = WebSocketWire.text(ServerFrames.history(messages.map(\.frame), recovered: messages.count < all.count ? false : nil))
            // Each copy counts against the outbound limit: a client that asks again and again
            // without reading is closed as a slow consumer once they pass it.
            return Array(repeating: .write(frame, flush: false), count: waiters) + [.flush]
        case .failed:
            let error = ProtocolError(.unavailable, "History is unavailable; try again in a moment.")
            return (0..<waiters).flatMap { _ in send(error: error) }
        }
    }

    /// The most a history reply may hold: half the outbound limit, so the reply leaves the other
    /// half for live messages while it drains (a client past the limit is closed as slow).
    var historyBudget: Int { configuration.outboundLimitBytes / 2 }

    /// A plain chat or edit in an encrypted room, or ciphertext in a plain one.
    static func mismatch(_ membership: Membership, clientID: String?) -> ProtocolError {
        membership.encrypted
            ? ProtocolError(.invalidPayload, "This room is end-to-end encrypted: send ciphertext and iv, not text or images.", clientID: clientID)
            : ProtocolError(.invalidPayload, "This room is not end-to-end encrypted: send text or an image, not ciphertext.", clientID: clientID)
    }

    // MARK: Replies

    /// Takes a token from the per-connection request bucket, or returns the refusal to send.
    private mutating func takeRequestToken(now: Instant) -> [Action]? {
        let decision = modify { $0.requestBucket.take(nowMilliseconds: now.wallMilliseconds) }
        guard case .refused(let retryAfter)? = decision else { return nil }
        return send(error: ProtocolError(.rateLimited, "Too many requests (joins, history, typing, edits, reactions); wait a moment.", retryAfterMilliseconds: retryAfter))
    }

    func send(_ json: ByteBuffer) -> [Action] {
        [.write(WebSocketWire.text(json), flush: true)]
    }

    func send(error: ProtocolError) -> [Action] {
        [.count(.error(error.code)), .write(WebSocketWire.text(ServerFrames.error(error)), flush: true)]
    }
}
