@testable import EchoCore
import EchoShared
import NIOCore
import NIOWebSocket
import Testing

/// Feature negotiation (`features` in the join, echoed in `session`) and typing, without I/O.
extension ChatConnectionStateMachineTests {
    static func typing(_ session: String, _ name: String = "ann") -> RoomEvent {
        .typing(ServerFrames.typing(sessionID: session, username: name), sender: ByteBuffer(string: session))
    }

    /// A machine joined to `room` through the real request, with `features` as the client sent them.
    func featuredMachine(_ featuresField: String, session: String = "s1", now: Machine.Instant = Self.t0) -> (Machine, [Action]) {
        var machine = Machine(configuration: Self.configuration, now: now)
        let actions = machine.frameReceived(
            .text, payload: ByteBuffer(string: #"{"type":"join","payload":{"roomId":"\#(room)","username":"ann","action":"join"\#(featuresField)}}"#), now: now)
        guard case .checkJoinAdmission(let join, let leaves)? = actions.first else {
            Issue.record("no admission check in \(actions)")
            return (machine, [])
        }
        guard case .join(_, _, let generation, _)? = machine.joinAdmitted(join, leaves: leaves, refusal: nil, draining: false, sessionID: session, now: now).last
        else {
            Issue.record("no join")
            return (machine, [])
        }
        let completed = machine.joinCompleted(generation: generation, .joined(messages: [], recovered: nil))
        return (machine, completed)
    }

    @Test func theSessionFrameAnswersTheGrantedFeaturesAndAnOldJoinGetsTodaysFrame() {
        let (old, oldActions) = featuredMachine("")
        #expect(old.joinedMembership?.features == nil)
        #expect(oldActions.first == .write(WebSocketWire.text(ServerFrames.session(sessionID: "s1", roomID: room, username: "ann", limits: Self.clientLimits)), flush: false))
        let (new, newActions) = featuredMachine(#","features":["react","typing","future"]"#)
        #expect(new.joinedMembership?.features == [.typing, .react])
        #expect(newActions.first == .write(Self.text(
            #"{"type":"session","sessionId":"s1","roomId":"room1234","username":"ann","limits":{"messageLength":2000,"imageBytes":3145728,"ratePerMinute":60,"rateBurst":20},"features":["typing","react"]}"#),
            flush: false))
        let (none, _) = featuredMachine(#","features":[]"#)
        #expect(none.joinedMembership?.features == [])
    }

    @Test func aBadFeaturesListIsRefusedAndJoinsNothing() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        let actions = request(#"{"type":"join","payload":{"roomId":"room1234","username":"ann","features":"typing"}}"#, &machine)
        #expect(actions.first == .count(.error(.invalidPayload)))
        #expect(machine.connection?.room == .idle)
    }

    @Test func typingBeforeAJoinIsRefused() {
        var machine = Machine(configuration: Self.configuration, now: Self.t0)
        #expect(request(#"{"type":"typing"}"#, &machine) == Self.error(ProtocolError(.notJoined, "Join a room before sending typing.")))
    }

    @Test func typingIsPublishedAtMostOncePerTwoSeconds() {
        var (machine, _) = featuredMachine(#","features":["typing"]"#)
        func typing(after milliseconds: UInt64) -> [Action] {
            let now = Machine.Instant(
                wallMilliseconds: Self.t0.wallMilliseconds + Int(milliseconds), uptimeNanoseconds: Self.t0.uptimeNanoseconds + milliseconds * 1_000_000)
            return machine.frameReceived(.text, payload: ByteBuffer(string: #"{"type":"typing"}"#), now: now)
        }
        let published: [Action] = [.publishEvent(room: room, Self.typing("s1"))]
        #expect(typing(after: 0) == published)
        #expect(typing(after: 1) == [])  // dropped silently
        #expect(typing(after: 1_999) == [])
        #expect(typing(after: 2_000) == published)
        #expect(typing(after: 3_000) == [])
        #expect(typing(after: 4_100) == published)
    }

    /// Even a client without the feature may say it types (the others who asked see it).
    @Test func typingFromAnOldJoinIsPublishedToo() {
        var (machine, _) = featuredMachine("")
        #expect(request(#"{"type":"typing"}"#, &machine) == [.publishEvent(room: room, Self.typing("s1"))])
    }

    @Test func typingCountsAgainstTheRequestBucket() {
        var (machine, _) = featuredMachine("")  // the join took one token
        for _ in 0..<19 { _ = request(#"{"type":"typing"}"#, &machine) }  // one published, the rest dropped
        #expect(request(#"{"type":"typing"}"#, &machine)
            == Self.error(ProtocolError(.rateLimited, "Too many requests (joins, history, typing, edits, reactions); wait a moment.", retryAfterMilliseconds: 500)))
    }

    @Test func onlyMembersGrantedAFeatureGetItsEventsAndNeverTheirOwn() {
        let (featured, _) = featuredMachine(#","features":["typing"]"#, session: "s1")
        let (old, _) = featuredMachine("", session: "s2")
        let (asked, _) = featuredMachine(#","features":[]"#, session: "s3")
        let from = { (session: String) in ByteBuffer(string: session) }
        #expect(featured.liveEvent(requiring: .typing, sender: from("s9")) == .write)
        #expect(featured.liveEvent(requiring: .typing, sender: from("s1")) == .none)
        #expect(old.liveEvent(requiring: .typing, sender: from("s9")) == .none)
        #expect(asked.liveEvent(requiring: .typing, sender: from("s9")) == .none)
        // Not while joining (no session frame yet), nor once closing.
        var joining = Machine(configuration: Self.configuration, now: Self.t0)
        _ = joining.joinAdmitted(
            JoinRequest(roomID: room, username: "ann", action: .join, since: nil, features: .typing), leaves: 0, refusal: nil, draining: false, sessionID: "s4",
            now: Self.t0)
        #expect(joining.liveEvent(requiring: .typing, sender: from("s9")) == .none)
        var closing = featured
        _ = closing.closeRequested(.normal)
        #expect(closing.liveEvent(requiring: .typing, sender: from("s9")) == .none)
    }
}
