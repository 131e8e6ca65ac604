import NIOCore
import Testing

@testable import Worker

@Suite struct SpreadScheduleTests {
    /// 20 ticks of 100 ms per period.
    private let timing = PresenceSchedule.Timing(presenceTTLSeconds: 6)

    @Test func theDefaultTTLGivesTicksOf100Milliseconds() {
        let timing = PresenceSchedule.Timing(presenceTTLSeconds: 60)
        #expect(timing.tick == .milliseconds(100))
        #expect(timing.ticksPerPeriod == 200)
        #expect(timing.period == .seconds(20))
        #expect(timing.retryTicks == 10)
    }

    @Test func pingsAreSpreadOverTheirIntervalInTicksOf100Milliseconds() {
        for (seconds, ticks) in [(1, 10), (30, 300), (100, 1000), (3600, 1000)] {
            let timing = SpreadSchedule<Connection>.Timing(period: .seconds(Int64(seconds)))
            #expect(timing.ticksPerPeriod == ticks)
            #expect(timing.period == .seconds(Int64(seconds)))
        }
        // 10,000 connections open at once, a 30 s interval: none pinged in its first half, each
        // once by one and a half intervals, then once per interval; at most 34 per tick.
        let connections = (0..<10_000).map { _ in Connection() }
        var pings = SpreadSchedule<Connection>(timing: .init(period: .seconds(30)), firstTurnAfter: 150)
        for connection in connections { pings.add(connection) }
        var seen: [ObjectIdentifier: Int] = [:]
        for tick in 1...750 {
            let due = pings.advance(to: tick)
            if tick < 150 { #expect(due.isEmpty, "tick \(tick)") }
            #expect(due.count <= 34)
            for connection in due { seen[ObjectIdentifier(connection), default: 0] += 1 }
            if tick == 449 { #expect(seen.count == 10_000 && seen.values.allSatisfy { $0 == 1 }) }
        }
        #expect(seen.values.allSatisfy { $0 == 2 || $0 == 3 })
        // One closed before its first ping is never pinged, and leaves nothing behind.
        let late = Connection()
        pings.add(late)
        pings.remove(late)
        #expect(pings.count == 10_000 && pings.keys.count == 10_000)
        #expect(!(751...1050).contains { pings.advance(to: $0).contains { $0 === late } })
    }

    @Test func everyTTLLeavesMoreThanAPeriodOfFailedRetriesBeforeAnEntryExpires() {
        for ttl in [3, 4, 7, 60, 100, 301, 600, 3600, 86_400] {
            let timing = PresenceSchedule.Timing(presenceTTLSeconds: ttl)
            #expect((1...1000).contains(timing.ticksPerPeriod))
            #expect(timing.tick >= .milliseconds(100))
            #expect(timing.retryTicks >= 1 && timing.retryTicks * 10 <= timing.ticksPerPeriod, "ttl \(ttl)")
            // An entry written at a turn lives the TTL; the next turn comes a period and a tick
            // later; what is left is the time retries have, at least one and a half periods.
            let margin = Int64(ttl) * 1_000_000_000 - (timing.period + timing.tick).nanoseconds
            #expect(margin * 2 >= timing.period.nanoseconds * 3, "ttl \(ttl)")
        }
    }

    @Test func eachRoomIsDueOncePerPeriodAndTheLoadIsEven() {
        var schedule = PresenceSchedule(timing: timing)
        for index in 0..<1000 { schedule.add(Room(id: "room\(index)")) }
        #expect(schedule.load == Array(repeating: 50, count: 20))
        for period in 0..<3 {
            var seen: [String: Int] = [:]
            for tick in 1...20 {
                let due = schedule.advance(to: period * 20 + tick)
                #expect(due.count == 50)
                for room in due { seen[room.id, default: 0] += 1 }
            }
            #expect(seen.count == 1000 && seen.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func aRoomsTurnsAreOnePeriodApartAndTheFirstComesWithinOne() throws {
        var schedule = PresenceSchedule(timing: timing)
        var lastDue: [String: Int] = [:]
        var generator = SplitMix(seed: 7)
        var present: [Room] = []
        for tick in 1...400 {
            // Rooms come and go at random ticks; a new room counts from the tick it arrived.
            if generator.next() % 3 == 0 {
                let room = Room(id: "r\(tick)")
                schedule.add(room)
                present.append(room)
                lastDue[room.id] = tick - 1
            }
            if generator.next() % 5 == 0, !present.isEmpty {
                let room = present.remove(at: Int(generator.next() % UInt64(present.count)))
                schedule.remove(room)
                lastDue[room.id] = nil
            }
            for room in schedule.advance(to: tick).map(\.id) {
                let last = try #require(lastDue[room], "a removed room came due")
                #expect(tick - last <= timing.ticksPerPeriod, "\(room) waited \(tick - last) ticks")
                lastDue[room] = tick
            }
            for (room, last) in lastDue { #expect(tick - last <= timing.ticksPerPeriod, "\(room) missed its turn") }
        }
    }

    @Test func newRoomsFillTheTicksThatLeaversEmptied() {
        var schedule = PresenceSchedule(timing: timing)
        let rooms = (0..<50).map { Room(id: "room\($0)") }
        for room in rooms[0..<40] { schedule.add(room) }
        for room in rooms[0..<10] { schedule.remove(room) }
        #expect(schedule.load.reduce(0, +) == 30)
        for room in rooms[40..<50] { schedule.add(room) }
        #expect(schedule.load == Array(repeating: 2, count: 20))
    }

    @Test func aLateTimerGetsEveryTickItMissedAndAStalledOneEveryRoomOnce() {
        var schedule = PresenceSchedule(timing: timing)
        for index in 0..<100 { schedule.add(Room(id: "room\(index)")) }
        #expect(schedule.advance(to: 3).count == 15)
        #expect(schedule.advance(to: 3).isEmpty)
        let stalled = schedule.advance(to: 3 + 55)
        #expect(stalled.count == 100 && Set(stalled.map(\.id)).count == 100)
        #expect(schedule.advance(to: 59).count == 5)
    }

    @Test func aFailedRefreshIsRetriedUntilItSucceedsOrItsTurnComes() throws {
        // 40 ticks per period, a retry 2 ticks after a failure.
        let timing = PresenceSchedule.Timing(presenceTTLSeconds: 12)
        #expect(timing.ticksPerPeriod == 40 && timing.retryTicks == 2)
        var schedule = PresenceSchedule(timing: timing)
        let a = Room(id: "a")
        schedule.add(a)
        let turn = try #require((1...40).first { schedule.advance(to: $0).contains { $0 === a } })
        // Every attempt fails: a retry every 2 ticks, and the one that would land on its next
        // turn (turn + 40) is left to the turn.
        schedule.failed(a)
        var dueAt: [Int] = []
        for tick in turn + 1...turn + 40 where schedule.advance(to: tick).contains(where: { $0 === a }) {
            dueAt.append(tick)
            schedule.failed(a)
        }
        #expect(dueAt == Array(stride(from: turn + 2, through: turn + 40, by: 2)))
        // The turn at turn + 40 failed too; its retry succeeds: nothing more until the next turn.
        dueAt = []
        for tick in turn + 41...turn + 80 where schedule.advance(to: tick).contains(where: { $0 === a }) { dueAt.append(tick) }
        #expect(dueAt == [turn + 42, turn + 80])
    }

    @Test func aRoomThatLeftIsNotRetried() {
        var schedule = PresenceSchedule(timing: timing)
        let a = Room(id: "a")
        schedule.add(a)
        schedule.add(Room(id: "b"))
        _ = schedule.advance(to: 2)
        schedule.failed(a)
        schedule.remove(a)
        #expect((3...30).allSatisfy { !schedule.advance(to: $0).contains { $0 === a } })
        schedule.failed(Room(id: "never-added"))
        #expect(schedule.count == 1)
    }
}

private typealias Room = ChatHub.LocalRoom

/// A key like the hub's connections.
private final class Connection: SpreadScheduled {
    var spreadPlace = SpreadPlace()
}

/// A tiny deterministic generator, so the random schedule test is the same every run.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
