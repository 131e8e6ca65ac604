import NIOCore

/// Work a worker owes every member of a set once per period (refresh a room's presence, ping a
/// connection), spread over the period instead of done for all at one instant.
///
/// The period is cut into ticks and every key has its own tick (its phase), the least loaded one
/// when it arrives, so each tick hands out about keys / ticks keys. A key's turns are a period
/// apart, and a new key's first turn comes within a period. A timer that ran late gets every tick
/// it missed (``advance(to:)``); after a stall longer than a period, every key once.
///
/// **Presence** (``PresenceSchedule``). A member's presence entry expires `ECHO_PRESENCE_TTL`
/// after it was last written, so a worker rewrites its rooms' entries once per period P, a third
/// of the TTL. Every room at the same instant put one script per room on Redis at once: with 1,000
/// rooms per worker that burst held chats up to 675 ms every 20 s (docs/benchmarks.md, S6). The
/// bound, with P cut into n ticks of τ = P / n:
/// - Each turn is sent at most one tick late (the timer runs every τ), plus however late the event
///   loop runs the timer. So while Redis answers, an entry is rewritten at most P + τ (+ lag)
///   after it was written, by its join or by the previous refresh: just over a third of the TTL
///   it lives.
/// - A refresh that fails (Redis unreachable, or no reply within `ECHO_REDIS_TIMEOUT_MS`) is
///   retried ``Timing/retryTicks`` later (P / 20, at least a tick), again after each failure,
///   until the room's next turn. An entry therefore expires only when every attempt failed for
///   TTL − P − τ, about two periods (40 s with the default 60 s TTL) after its last successful
///   write; the first refresh that succeeds afterwards writes the members back
///   (``PresenceRefreshScript``).
///
/// **Pings** (`ECHO_PING_INTERVAL`): each connection is pinged once per interval at its own tick,
/// and closed at its next one if nothing came back; its first ping comes half an interval to an
/// interval and a half after it opened, never right away. One ping for every connection at once wrote
/// 10,000 frames in one loop pass and held chats up to 0.7 s (S6).
struct SpreadSchedule<Key: SpreadScheduled> {
    struct Timing: Equatable {
        /// How often the timer runs.
        let tick: TimeAmount
        /// Ticks in one period: each key's turn comes once in that many ticks.
        let ticksPerPeriod: Int
        /// Ticks from a failed refresh to its retry.
        let retryTicks: Int

        var period: TimeAmount { .nanoseconds(tick.nanoseconds * Int64(ticksPerPeriod)) }

        /// Ticks of 100 ms (fewer and longer when a period would hold more than 1,000).
        init(period: TimeAmount) {
            let period = max(period.nanoseconds, 1)
            ticksPerPeriod = Int(min(max(period / 100_000_000, 1), 1000))
            tick = .nanoseconds(period / Int64(ticksPerPeriod))
            retryTicks = max(1, ticksPerPeriod / 20)
        }
    }

    let timing: Timing
    /// The keys whose turn each tick of the period is. A key knows its tick and index
    /// (``SpreadPlace``): one reference here per key, and no hash table.
    private var slots: [[Key]]
    private(set) var count = 0
    /// Keys whose work failed, waiting for their retry, in tick order (each is `retryTicks` after the
    /// tick it failed at, which only grows).
    private var retries = CircularBuffer<(tick: Int, key: Key)>()
    /// The last tick whose keys were handed out.
    private(set) var tick = 0

    /// Ticks a new key waits at least before its first turn.
    let firstTurnAfter: Int

    init(timing: Timing, firstTurnAfter: Int = 0) {
        self.timing = timing
        self.firstTurnAfter = firstTurnAfter
        slots = Array(repeating: [], count: timing.ticksPerPeriod)
    }

    /// How many keys have their turn at each tick of the period.
    var load: [Int] { slots.map(\.count) }

    /// Every key, in tick order.
    var keys: [Key] { Array(slots.joined()) }

    /// Gives `key` the least loaded tick (the soonest of those), unless it has one. A first turn
    /// sooner than ``firstTurnAfter`` ticks is skipped.
    mutating func add(_ key: Key) {
        guard !key.spreadPlace.isScheduled else { return }
        let ticks = timing.ticksPerPeriod
        var best = (tick + 1) % ticks
        for offset in 1..<ticks {
            let candidate = (tick + 1 + offset) % ticks
            if slots[candidate].count < slots[best].count { best = candidate }
        }
        let distance = ((best - tick) % ticks + ticks) % ticks
        let firstTurn = tick + (distance == 0 ? ticks : distance)
        key.spreadPlace = SpreadPlace(
            phase: Int32(best), index: Int32(slots[best].count),
            skippedTurn: firstTurn - tick < firstTurnAfter ? SpreadPlace.turnMark(firstTurn) : SpreadPlace.noSkip)
        slots[best].append(key)
        count += 1
    }

    /// Takes `key` out (the last key of its tick moves into its place).
    mutating func remove(_ key: Key) {
        let place = key.spreadPlace
        guard place.isScheduled else { return }
        let phase = Int(place.phase), index = Int(place.index)
        let moved = slots[phase].removeLast()
        if index < slots[phase].count {
            slots[phase][index] = moved
            moved.spreadPlace.index = place.index
        }
        key.spreadPlace = SpreadPlace()
        count -= 1
    }

    /// The keys due in the ticks after the last one handed out, up to `now`: their turn, or a
    /// retry. A timer that ran late gets every tick it missed; after a stall longer than a period,
    /// every key once.
    mutating func advance(to now: Int) -> [Key] {
        guard now > tick else { return [] }
        let first = max(tick + 1, now - timing.ticksPerPeriod + 1)
        tick = now
        var due: [Key] = []
        for passed in first...now {
            for key in slots[passed % timing.ticksPerPeriod] {
                // A key's first visit decides its skip: it is skipped only if this is the turn
                // `add` chose (a stall may have jumped past that one).
                let skipped = key.spreadPlace.skippedTurn
                if skipped != SpreadPlace.noSkip {
                    key.spreadPlace.skippedTurn = SpreadPlace.noSkip
                    if skipped == SpreadPlace.turnMark(passed) { continue }
                }
                due.append(key)
            }
        }
        guard retries.first.map({ $0.tick <= now }) == true else { return due }
        var seen = Set(due.map(ObjectIdentifier.init))
        while let retry = retries.first, retry.tick <= now {
            retries.removeFirst()
            // A key removed meanwhile needs nothing.
            if retry.key.spreadPlace.isScheduled, seen.insert(ObjectIdentifier(retry.key)).inserted { due.append(retry.key) }
        }
        return due
    }

    /// `key`'s work failed: it is due again ``Timing/retryTicks`` after the current tick,
    /// unless its own turn comes first.
    mutating func failed(_ key: Key) {
        guard key.spreadPlace.isScheduled else { return }
        let ticks = timing.ticksPerPeriod
        let phase = Int(key.spreadPlace.phase)
        let untilTurn = ((phase - tick) % ticks + ticks) % ticks
        let nextTurn = tick + (untilTurn == 0 ? ticks : untilTurn)
        let retry = tick + timing.retryTicks
        guard retry < nextTurn else { return }
        retries.append((retry, key))
    }
}

/// What a ``SpreadSchedule`` keeps about a key, stored in the key (a connection, a room): its
/// tick and its index in that tick's list, so adding and removing touch no hash table. 12 bytes
/// in the key instead of two hash-table entries and a set entry in the schedule (S3, idle memory).
struct SpreadPlace {
    /// The key's tick within the period; -1: not in a schedule.
    var phase: Int32 = -1
    /// Its index in that tick's list.
    var index: Int32 = 0
    /// ``turnMark(_:)`` of a first turn that is skipped (it came sooner than
    /// ``SpreadSchedule/firstTurnAfter``), until the key's tick first comes; ``noSkip`` otherwise.
    var skippedTurn: UInt32 = noSkip

    var isScheduled: Bool { phase >= 0 }

    static let noSkip = UInt32.max
    /// A tick number cut to 32 bits: only ever compared with a tick less than a period away.
    static func turnMark(_ tick: Int) -> UInt32 { UInt32(truncatingIfNeeded: tick) & 0x7FFF_FFFF }
}

/// An object a ``SpreadSchedule`` can hold (one schedule at a time).
protocol SpreadScheduled: AnyObject {
    var spreadPlace: SpreadPlace { get set }
}

/// Rooms and their presence refresh, over a third of the TTL (see ``SpreadSchedule``).
typealias PresenceSchedule = SpreadSchedule<ChatHub.LocalRoom>

extension SpreadSchedule.Timing {
    init(presenceTTLSeconds: Int) {
        self.init(period: .nanoseconds(Int64(presenceTTLSeconds) * 1_000_000_000 / 3))
    }
}
