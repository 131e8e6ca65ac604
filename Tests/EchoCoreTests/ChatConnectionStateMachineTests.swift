@testable import EchoCore
import EchoShared
import NIOCore
import NIOWebSocket
import Testing

/// The connection's races, decided without I/O: each test feeds events in the order a race
/// produces them and asserts the exact actions.
@Suite struct ChatConnectionStateMachineTests {
    typealias Machine = ChatConnectionStateMachine
    typealias Action = Machine.Action

    static let clientLimits = ClientLimits(messageLength: 2000, imageBytes: 3 << 20, ratePerMinute: 60, rateBurst: 20)
    static let configuration = Machine.Configuration(
        limits: InputLimits(), clientLimits: Self.clientLimits, maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 0, outboundLimitBytes: 1 << 20,
        joinTimeoutSeconds: 30, rateLimited: true)
    static let t0 = Machine.Instant(wallMilliseconds: 1_700_000_000_000, uptimeNanoseconds: 1_000 * 1_000_000_000)
    let room = "room1234"

    struct Fault: Error, CustomStringConvertible {
        var description: String { "connection reset" }
    }

    static func id(_ n: UInt64) -> StreamID { StreamID(milliseconds: n, sequence: 0) }
    static func stored(_ n: UInt64) -> StoredMessage { StoredMessage(id: id(n), frame: ByteBuffer(string: #"{"id":"\#(n)-0"}"#)) }
    static func live(_ n: UInt64?) -> Machine.LiveMessage {
        Machine.LiveMessage(id: n.map(id), frame: ByteBuffer(string: n.map { "live \($0)" } ?? "system"))
    }
    static func text(_ json: String) -> ByteBuffer { WebSocketWire.text(ByteBuffer(string: json)) }
    static func history(_ messages: [StoredMessage], recovered: Bool?) -> Action {
        .write(WebSocketWire.text(ServerFrames.history(messages.map(\.frame), recovered: recovered)), flush: false)
    }
    static func error(_ error: ProtocolError) -> [Action] {
        [.count(.error(error.code)), .write(WebSocketWire.text(ServerFrames.error(error)), flush: true)]
    }

    func request(_ json: String, _ machine: inout Machine) -> [Action] {
        machine.frameReceived(.text, payload: ByteBuffer(string: json), now: Self.t0)
    }

    /// Takes a fresh machine (or `machine`) through a join's request and admission; returns the
    /// join's generation and membership.
    @discardableResult
    func startJoin(
        _ machine: inout Machine, room: String? = nil, since: StreamID? = nil, session: String = "s1"
    ) -> (generation: Int, membership: Machine.Membership, request: JoinRequest) {
        let room = room ?? self.room
        let sinceField = since.map { #","since":"\#($0)""# } ?? ""
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: since)
        let leaves = machine.connection?.leaves ?? 0
        #expect(request(#"{"type":"join","payload":{"roomId":"\#(room)","username":"ann","action":"join"\#(sinceField)}}"#, &machine)
            == [.checkJoinAdmission(join, leaves: leaves)])
        let previous = machine.joined?.membership.roomID
        let actions = machine.joinAdmitted(join, leaves: leaves, refusal: nil, draining: false, sessionID: session, now: Self.t0)
        guard case .join(_, let membership, let generation, _)? = actions.last else {
            Issue.record("no join action in \(actions)")
            return (0, Machine.Membership(roomID: room, sessionID: session, username: "ann"), join)
        }
        #expect(membership == Machine.Membership(roomID: room, sessionID: session, username: "ann"))
        if previous == nil {
            #expect(actions == [
                .log(Machine.LogEntry(level: .debug, message: "join", metadata: ["room": room, "action": "join"])),
                .join(join, membership, generation: generation),
            ])
        }
        return (generation, membership, join)
    }

    func joinedMachine(history: [StoredMessage] = []) -> (Machine, Machine.Membership) {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, membership, _) = startJoin(&machine)
        _ = machine.joinCompleted(generation: generation, .joined(messages: history, recovered: nil))
        return (machine, membership)
    }

    func sessionFrame(_ m: Machine.Membership) -> Action {
        .write(WebSocketWire.text(ServerFrames.session(sessionID: m.sessionID, roomID: m.roomID, username: m.username, limits: Self.clientLimits)), flush: false)
    }

    // MARK: Join races

    @Test func liveMessagesDuringAJoinAreBufferedThenDeliveredAfterTheHistoryInOrder() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, membership, _) = startJoin(&machine)
        // The join script runs; the room's channel already delivers.
        for message in [Self.live(5), Self.live(nil), Self.live(6)] {
            #expect(machine.liveMessage(message.frame, id: message.id) == .none)
        }
        let history = [Self.stored(3), Self.stored(4)]
        #expect(machine.joinCompleted(generation: generation, .joined(messages: history, recovered: nil)) == [
            sessionFrame(membership),
            Self.history(history, recovered: nil),
            .goLive(room: room, buffered: [Self.live(5), Self.live(nil), Self.live(6)]),
            .flush,
        ])
        // The handler feeds the buffered messages back once the hub says the feed was intact.
        for message in [Self.live(5), Self.live(nil), Self.live(6)] {
            #expect(machine.liveMessage(message.frame, id: message.id) == .write)
        }
        #expect(machine.lastID == Self.id(6))
        #expect(machine.hasJoined)
    }

    @Test func aResumeWhoseHistoryOverlapsLiveDropsTheDuplicatesAndLeavesNoGap() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, membership, _) = startJoin(&machine, since: Self.id(2))
        // 3 and 4 are published while the script reads the stream: they arrive live and are in
        // the history it read.
        for n: UInt64 in [3, 4, 5] {
            #expect(machine.liveMessage(Self.live(n).frame, id: Self.id(n)) == .none)
        }
        let history = [Self.stored(3), Self.stored(4)]
        #expect(machine.joinCompleted(generation: generation, .joined(messages: history, recovered: true)) == [
            sessionFrame(membership),
            Self.history(history, recovered: true),
            .goLive(room: room, buffered: [Self.live(5)]),
            .flush,
        ])
        #expect(machine.liveMessage(Self.live(5).frame, id: Self.id(5)) == .write)
        // A late copy of something the client has is dropped; the next one goes out.
        #expect(machine.liveMessage(Self.live(4).frame, id: Self.id(4)) == .none)
        #expect(machine.liveMessage(Self.live(6).frame, id: Self.id(6)) == .write)
        // A recovered resume covers everything after `since`: no stored copy is sent on a retry.
        #expect(machine.duplicateFloor == nil)
    }

    @Test func aResumeWithNothingNewKeepsItsPositionForTheLiveCopies() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, _, _) = startJoin(&machine, since: Self.id(4))
        #expect(machine.liveMessage(Self.live(4).frame, id: Self.id(4)) == .none)
        let actions = machine.joinCompleted(generation: generation, .joined(messages: [], recovered: true))
        #expect(actions.contains(.goLive(room: room, buffered: [])))
        #expect(machine.lastID == Self.id(4))
    }

    @Test func aLeaveDuringAJoinReleasesTheSubscriptionAndSilencesTheResult() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, _, _) = startJoin(&machine)
        #expect(request(#"{"type":"leave"}"#, &machine) == [.removeMember(room: room)])
        #expect(machine.joinCompleted(generation: generation, .joined(messages: [Self.stored(1)], recovered: nil)) == [])
        #expect(machine.connection?.room == .idle)
        #expect(machine.liveMessage(Self.live(2).frame, id: Self.id(2)) == .none)
        #expect(!machine.hasJoined)
    }

    @Test func aLeaveWhileTheJoinAdmissionIsPendingCancelsTheJoin() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: nil)
        #expect(request(#"{"type":"join","payload":{"roomId":"room1234","username":"ann","action":"join"}}"#, &machine)
            == [.checkJoinAdmission(join, leaves: 0)])
        #expect(request(#"{"type":"leave"}"#, &machine) == [])
        #expect(machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s1", now: Self.t0) == [])
        #expect(machine.connection?.room == .idle)
    }

    @Test func aLeaveWhenJoinedRecordsIt() {
        var (machine, membership) = joinedMachine()
        #expect(request(#"{"type":"leave"}"#, &machine) == [.removeMember(room: room), .leave(membership, timestamp: Self.t0.wallMilliseconds)])
        #expect(machine.liveMessage(Self.live(9).frame, id: Self.id(9)) == .none)
    }

    @Test func aSupersededJoinIsSilent() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let first = startJoin(&machine, room: "first123", session: "s1")
        let second = JoinRequest(roomID: "second12", username: "ann", action: .join, since: nil)
        #expect(request(#"{"type":"join","payload":{"roomId":"second12","username":"ann","action":"join"}}"#, &machine)
            == [.checkJoinAdmission(second, leaves: 0)])
        let membership = Machine.Membership(roomID: "second12", sessionID: "s2", username: "ann")
        #expect(machine.joinAdmitted(second, leaves: 0, refusal: nil, draining: false, sessionID: "s2", now: Self.t0) == [
            .removeMember(room: "first123"),
            .log(Machine.LogEntry(level: .debug, message: "join", metadata: ["room": "second12", "action": "join"])),
            .join(second, membership, generation: first.generation + 1),
        ])
        // Removing the first member fails its pending subscribe: no error reply, no state change.
        #expect(machine.joinCompleted(generation: first.generation, .failed(Fault())) == [])
        #expect(machine.joinCompleted(generation: first.generation, .joined(messages: [], recovered: nil)) == [])
        #expect(machine.joinCompleted(generation: first.generation + 1, .joined(messages: [], recovered: nil)) == [
            sessionFrame(membership), Self.history([], recovered: nil), .goLive(room: "second12", buffered: []), .flush,
        ])
        #expect(machine.joinedMembership == membership)
    }

    @Test func aRedisFailureMidJoinRepliesWithAnErrorAndReleasesTheSubscription() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, _, _) = startJoin(&machine)
        #expect(machine.liveMessage(Self.live(1).frame, id: Self.id(1)) == .none)
        #expect(machine.joinCompleted(generation: generation, .failed(Fault())) == [
            .removeMember(room: room),
            .log(Machine.LogEntry(level: .warning, message: "join failed", metadata: ["room": room, "error": "connection reset"])),
        ] + Self.error(ProtocolError(.unavailable, "Chat storage is unavailable; try again in a moment.")))
        #expect(machine.connection?.room == .idle)
        #expect(!machine.hasJoined)
        // Idle again: nothing is delivered, and a new join works.
        #expect(machine.liveMessage(Self.live(2).frame, id: Self.id(2)) == .none)
        let again = startJoin(&machine)
        #expect(again.generation == generation + 1)
    }

    @Test func aRoomThatDoesNotExistRepliesWithAnError() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, _, _) = startJoin(&machine)
        #expect(machine.joinCompleted(generation: generation, .roomNotFound) == [.removeMember(room: room)]
            + Self.error(ProtocolError(.roomNotFound, "Room room1234 does not exist. Check the code, or create a new room.")))
    }

    @Test func aJoinRefusedOrDuringADrainGetsAnErrorAndNoJoin() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: nil)
        let refusal = ProtocolError(.rateLimited, "Too many joins from your address.")
        #expect(machine.joinAdmitted(join, leaves: 0, refusal: refusal, draining: false, sessionID: "s1", now: Self.t0) == Self.error(refusal))
        #expect(machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: true, sessionID: "s1", now: Self.t0)
            == Self.error(ProtocolError(.unavailable, "This server is restarting; reconnect and join again.")))
        #expect(machine.connection?.room == .idle)
    }

    @Test func joinsAndHistoryRequestsShareABucketOfTwenty() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: nil)
        for n in 0..<20 {
            #expect(machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s\(n)", now: Self.t0).last
                == .join(join, .init(roomID: room, sessionID: "s\(n)", username: "ann"), generation: n + 1))
        }
        let refused = machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s20", now: Self.t0)
        #expect(refused == Self.error(ProtocolError(.rateLimited, "Too many requests (joins, history, typing, edits, reactions); wait a moment.", retryAfterMilliseconds: 500)))
    }

    // MARK: Pending scripts and close

    @Test func aCloseDuringAPendingScriptIgnoresItsResult() {
        var (machine, membership) = joinedMachine()
        let chat = request(#"{"type":"chat","payload":{"roomId":"room1234","message":"hi","clientId":"c1"}}"#, &machine)
        guard case .storeEvent(let room, .chat, _, let clientID, _)? = chat.last else {
            Issue.record("no chat script in \(chat)")
            return
        }
        #expect(chat.first == .count(.messageIn))
        #expect(room == self.room && clientID == "c1")
        #expect(request(#"{"type":"history"}"#, &machine) == [.readHistory(room: room)])
        #expect(machine.closeRequested(.serviceRestart) == [.sendClose(.serviceRestart, reason: "")])
        #expect(machine.closeRequested(.goingAway) == [])
        #expect(machine.chatCompleted(room: room, clientID: "c1", .rateLimited(retryAfterMilliseconds: 100)) == [])
        #expect(machine.chatCompleted(room: room, clientID: "c1", .failed(Fault())) == [])
        #expect(machine.historyCompleted(.read([Self.stored(1)])) == [])
        #expect(machine.liveMessage(Self.live(3).frame, id: Self.id(3)) == .none)
        // Still a member until the socket closes: then it leaves.
        #expect(machine.channelClosed(now: Self.t0) == [.removeMember(room: room), .leave(membership, timestamp: Self.t0.wallMilliseconds)])
        #expect(machine.channelClosed(now: Self.t0) == [])
    }

    @Test func aJoinThatCompletesWhileClosingWritesNothingButLeavesOnClose() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, membership, _) = startJoin(&machine)
        #expect(machine.closeRequested(.goingAway) == [.sendClose(.goingAway, reason: "")])
        #expect(machine.joinCompleted(generation: generation, .joined(messages: [Self.stored(1)], recovered: nil)) == [])
        // The script added the session to the room's presence: the close removes it.
        #expect(machine.channelClosed(now: Self.t0) == [.removeMember(room: room), .leave(membership, timestamp: Self.t0.wallMilliseconds)])
    }

    @Test func aJoinAdmittedAfterTheCloseDoesNotRun() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let join = JoinRequest(roomID: room, username: "ann", action: .join, since: nil)
        #expect(request(#"{"type":"join","payload":{"roomId":"room1234","username":"ann","action":"join"}}"#, &machine)
            == [.checkJoinAdmission(join, leaves: 0)])
        #expect(machine.closeRequested(.goingAway) == [.sendClose(.goingAway, reason: "")])
        // The join script would add the session to the room's presence and announce it.
        #expect(machine.joinAdmitted(join, leaves: 0, refusal: nil, draining: false, sessionID: "s1", now: Self.t0) == [])
        #expect(machine.channelClosed(now: Self.t0) == [])
    }

    @Test func chatResultsBecomeReplies() {
        var (machine, _) = joinedMachine(history: [Self.stored(10)])
        #expect(machine.chatCompleted(room: room, clientID: "c1", .stored) == [])
        // A retried chat whose stored copy is older than the history the join handed over.
        let old = Self.stored(5)
        #expect(machine.chatCompleted(room: room, clientID: "c1", .duplicate(old)) == [.write(WebSocketWire.text(old.frame), flush: true)])
        #expect(machine.chatCompleted(room: room, clientID: "c1", .duplicate(Self.stored(11))) == [])
        #expect(machine.chatCompleted(room: room, clientID: "c1", .rateLimited(retryAfterMilliseconds: 700)) == [.count(.rateLimited)]
            + Self.error(ProtocolError(.rateLimited, "Too many messages; wait a moment.", retryAfterMilliseconds: 700, clientID: "c1")))
        #expect(machine.chatCompleted(room: room, clientID: "c1", .failed(Fault())) == [
            .count(.rateLimiterUnavailable),
            .log(Machine.LogEntry(level: .warning, message: "chat not confirmed", metadata: ["room": room, "error": "connection reset"])),
        ] + Self.error(ProtocolError(
            .unavailable, "Chat storage did not confirm the message. Retry with the same clientId; it will not be stored twice.", clientID: "c1")))
    }

    @Test func chatBeforeJoiningOrToAnotherRoomIsRefused() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(request(#"{"type":"chat","payload":{"message":"hi","clientId":"c1"}}"#, &machine)
            == Self.error(ProtocolError(.notJoined, "Join a room before sending messages.", clientID: "c1")))
        var (joined, _) = joinedMachine()
        #expect(request(#"{"type":"chat","payload":{"roomId":"other123","message":"hi"}}"#, &joined)
            == Self.error(ProtocolError(.roomMismatch, "Room mismatch: this connection is in room room1234.")))
    }

    // MARK: History

    @Test func historyRequestsDuringAReadShareItsReply() {
        var (machine, _) = joinedMachine()
        #expect(request(#"{"type":"history"}"#, &machine) == [.readHistory(room: room)])
        #expect(request(#"{"type":"history"}"#, &machine) == [])
        #expect(request(#"{"type":"history"}"#, &machine) == [])
        let frame = WebSocketWire.text(ServerFrames.history([Self.stored(1).frame], recovered: nil))
        #expect(machine.historyCompleted(.read([Self.stored(1)])) == [
            .write(frame, flush: false), .write(frame, flush: false), .write(frame, flush: false), .flush,
        ])
        // The next request reads again; a failed read answers every waiter.
        #expect(request(#"{"type":"history"}"#, &machine) == [.readHistory(room: room)])
        #expect(request(#"{"type":"history"}"#, &machine) == [])
        let unavailable = Self.error(ProtocolError(.unavailable, "History is unavailable; try again in a moment."))
        #expect(machine.historyCompleted(.failed) == unavailable + unavailable)
    }

    @Test func historyKeepsTheNewestMessagesThatFitHalfTheOutboundLimit() {
        let configuration = Machine.Configuration(
            limits: InputLimits(), clientLimits: Self.clientLimits, maxFrameBytes: 64 * 1024, inboundBytesPerSecond: 0, outboundLimitBytes: 80, joinTimeoutSeconds: 30, rateLimited: true)
        var machine = Machine(configuration: configuration, now: Self.t0)
        let (generation, membership, _) = startJoin(&machine)
        let all = (1...5).map { Self.stored(UInt64($0)) }  // 12 bytes and a comma each: 3 fit in 40
        #expect(machine.joinCompleted(generation: generation, .joined(messages: all, recovered: true)) == [
            sessionFrame(membership), Self.history(Array(all.suffix(3)), recovered: false), .goLive(room: room, buffered: []), .flush,
        ])
        #expect(request(#"{"type":"history"}"#, &machine) == [.readHistory(room: room)])
        let frame = WebSocketWire.text(ServerFrames.history(all.suffix(3).map(\.frame), recovered: false))
        #expect(machine.historyCompleted(.read(all)) == [.write(frame, flush: false), .flush])
    }

    @Test func historyBeforeJoiningIsRefused() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(request(#"{"type":"history"}"#, &machine) == Self.error(ProtocolError(.notJoined, "Join a room before asking for its history.")))
    }

    // MARK: Resync after a Redis fault

    @Test func aResyncMovesTheMemberToTheNewestMessageItGets() {
        var (machine, _) = joinedMachine(history: [Self.stored(3)])
        let history = [Self.stored(7), Self.stored(8)]
        #expect(machine.resync(history: history) == WebSocketWire.text(ServerFrames.history(history.map(\.frame), recovered: false)))
        #expect(machine.lastID == Self.id(8))
        #expect(machine.duplicateFloor == Self.id(7))
        #expect(machine.liveMessage(Self.live(8).frame, id: Self.id(8)) == .none)
        var idle = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(idle.resync(history: history) == nil)
    }

    // MARK: Liveness, deadlines, back-pressure

    @Test func aSlowConsumerIsClosedOnce() {
        var (machine, _) = joinedMachine()
        #expect(machine.outboundFull() == [
            .count(.slowConsumerClose),
            .log(Machine.LogEntry(level: .info, message: "closing slow consumer", metadata: ["limit": "1048576"])),
            .sendClose(.policyViolation, reason: ""),
        ])
        #expect(machine.outboundFull() == [])
        #expect(!machine.isOpen)
        #expect(machine.liveMessage(Self.live(1).frame, id: Self.id(1)) == .none)
        #expect(request(#"{"type":"ping"}"#, &machine) == [])
    }

    @Test func aConnectionThatJoinsNoRoomIsClosedAtTheDeadline() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        var early = Self.t0
        early.uptimeNanoseconds += 29 * 1_000_000_000
        #expect(machine.joinDeadlinePassed(now: early) == [])
        var late = Self.t0
        late.uptimeNanoseconds += 30 * 1_000_000_000
        #expect(machine.joinDeadlinePassed(now: late) == [
            .count(.joinTimeoutClose),
            .log(Machine.LogEntry(level: .debug, message: "no join in time; closing", metadata: [:])),
            .sendClose(.policyViolation, reason: "No room joined within 30 s."),
        ])
        #expect(machine.joinDeadlinePassed(now: late) == [])
        var (joined, _) = joinedMachine()
        #expect(joined.joinDeadlinePassed(now: late) == [])
        // A failed join does not count as joining.
        var failed = Machine(configuration: Self.configuration, now: Self.t0)
        let (generation, _, _) = startJoin(&failed)
        _ = failed.joinCompleted(generation: generation, .roomNotFound)
        #expect(failed.joinDeadlinePassed(now: late).last == .sendClose(.policyViolation, reason: "No room joined within 30 s."))
    }

    @Test func aPeerThatDoesNotAnswerAPingIsDropped() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let ping = Action.write(WebSocketWire.frame(.ping, payload: ByteBuffer()), flush: true)
        #expect(machine.pingTick() == [ping])
        #expect(machine.frameReceived(.pong, payload: ByteBuffer(), now: Self.t0) == [])
        #expect(machine.pingTick() == [ping])
        #expect(machine.pingTick() == [.log(Machine.LogEntry(level: .debug, message: "no pong; closing", metadata: [:])), .closeNow])
        #expect(machine.pingTick() == [])
    }

    @Test func anInboundFloodPausesReadingUntilTheBudgetRefills() {
        let configuration = Machine.Configuration(
            limits: InputLimits(), clientLimits: Self.clientLimits, maxFrameBytes: 1024, inboundBytesPerSecond: 1000, outboundLimitBytes: 1 << 20, joinTimeoutSeconds: 30, rateLimited: true)
        var machine = Machine(configuration: configuration, now: Self.t0)
        let payload = ByteBuffer(string: #"{"type":"ping"}"# + String(repeating: " ", count: 1509))  // 1524 bytes
        let actions = machine.frameReceived(.text, payload: payload, now: Self.t0)
        // The frame is still handled; reading stops until the 500-byte debt is paid (0.501 s).
        #expect(Array(actions.prefix(2)) == [.pauseReading, .scheduleReadCheck(nanoseconds: 501_000_000)])
        #expect(actions.count == 3)
        // Another frame already read while pausing does not pause twice.
        #expect(machine.frameReceived(.pong, payload: ByteBuffer(), now: Self.t0) == [])
        var later = Self.t0
        later.uptimeNanoseconds += 250_000_000
        #expect(machine.readCheck(now: later) == [.scheduleReadCheck(nanoseconds: 251_000_000)])
        later.uptimeNanoseconds += 251_000_000
        #expect(machine.readCheck(now: later) == [.resumeReading])
        #expect(machine.readCheck(now: later) == [])
    }

    // MARK: Frames

    @Test func framesGetTheirAnswers() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(machine.frameReceived(.ping, payload: ByteBuffer(string: "hi"), now: Self.t0)
            == [.write(WebSocketWire.frame(.pong, payload: ByteBuffer(string: "hi")), flush: true)])
        #expect(request(#"{"type":"ping"}"#, &machine) == [.write(Self.text(#"{"type":"pong","ts":1700000000000}"#), flush: true)])
        #expect(request(#"{"type":"nope"}"#, &machine) == Self.error(ProtocolError(.unknownType, #"Unknown message type "nope"."#)))

        var binary = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(binary.frameReceived(.binary, payload: ByteBuffer(bytes: [0, 1]), now: Self.t0)
            == [.count(.error(.binaryNotSupported)), .sendClose(.unacceptableData, reason: "")])
        var invalid = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(invalid.frameReceived(.text, payload: ByteBuffer(bytes: [0xFF, 0xFE]), now: Self.t0) == [.sendClose(.invalidPayload, reason: "")])
        var reserved = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(reserved.frameReceived(WebSocketOpcode(encodedWebSocketOpcode: 3)!, payload: ByteBuffer(), now: Self.t0)
            == [.count(.protocolErrorClose), .sendClose(.protocolError, reason: "")])
    }

    @Test func aClientCloseIsEchoedAndFramesAfterOurCloseAreIgnored() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        var payload = ByteBuffer()
        payload.writeInteger(UInt16(1000))
        #expect(machine.frameReceived(.connectionClose, payload: payload, now: Self.t0) == [.sendClose(.normal, reason: "")])
        var ours = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(ours.closeRequested(.serviceRestart) == [.sendClose(.serviceRestart, reason: "")])
        #expect(ours.frameReceived(.text, payload: ByteBuffer(string: #"{"type":"ping"}"#), now: Self.t0) == [])
        #expect(ours.frameReceived(.connectionClose, payload: payload, now: Self.t0) == [])
        var malformed = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(malformed.frameReceived(.connectionClose, payload: ByteBuffer(bytes: [3]), now: Self.t0)
            == [.count(.protocolErrorClose), .sendClose(.protocolError, reason: "")])
    }

    @Test func protocolViolationsBelowTheMachineCloseOnce() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(machine.protocolViolation(.protocolError, counted: true) == [.count(.protocolErrorClose), .sendClose(.protocolError, reason: "")])
        #expect(machine.protocolViolation(.messageTooLarge, counted: false) == [])
    }
}
