import NIOCore

/// Which rooms' presence a worker refreshes at each tick of its presence timer.
///
/// A member's presence entry expires `ECHO_PRESENCE_TTL` after it was last written, so a worker
/// rewrites its members' entries once per period, a third of the TTL. Doing every room at the
/// same instant puts one script per room on Redis at once: with 1,000 rooms per worker that burst
/// held chats up to 675 ms every 20 s (docs/benchmarks.md, S6). Instead the period is cut into
/// ticks and every room has its own tick (its phase), the least loaded one when the room arrives,
/// so each tick refreshes about rooms / ticks rooms.
///
/// **The bound.** With period P = TTL / 3 cut into n ticks of τ = P / n:
/// - A room's turns are n ticks apart, and a new room's first turn comes within n ticks. Each is
///   sent at most one tick late (the timer runs every τ; a late timer catches up with every tick it
///   missed, ``advance(to:)``), plus however late the event loop runs the timer. So while Redis
///   answers, an entry is rewritten at most P + τ (+ lag) after it was written, by its join or by
///   the previous refresh: just over a third of the TTL it lives.
/// - A refresh that fails (Redis unreachable, or no reply within `ECHO_REDIS_TIMEOUT_MS`) is
///   retried ``Timing/retryTicks`` later (P / 20, at least a tick), again after each failure,
///   until the room's next turn. An entry therefore expires only when every attempt failed for
///   TTL − P − τ, about two periods (40 s with the default 60 s TTL) after its last successful
///   write; the first refresh that succeeds afterwards writes the members back
///   (``PresenceRefreshScript``).
struct PresenceSchedule {
    struct Timing: Equatable {
        /// How often the timer runs.
        let tick: TimeAmount
        /// Ticks in one refresh period: each room's turn comes once in that many ticks.
        let ticksPerPeriod: Int
        /// Ticks from a failed refresh to its retry.
        let retryTicks: Int

        var period: TimeAmount { .nanoseconds(tick.nanoseconds * Int64(ticksPerPeriod)) }

        /// Ticks of 100 ms (fewer and longer when a period would hold more than 1,000), over a
        /// period of a third of the TTL.
        init(presenceTTLSeconds: Int) {
            let period = Int64(presenceTTLSeconds) * 1_000_000_000 / 3
            ticksPerPeriod = Int(min(max(period / 100_000_000, 1), 1000))
            tick = .nanoseconds(period / Int64(ticksPerPeriod))
            retryTicks = max(1, ticksPerPeriod / 20)
        }
    }

    let timing: Timing
    /// The rooms whose turn each tick of the period is.
    private var slots: [Set<String>]
    private var phases: [String: Int] = [:]
    /// Failed refreshes waiting for their retry, in tick order (each is `retryTicks` after the
    /// tick it failed at, which only grows).
    private var retries = CircularBuffer<(tick: Int, room: String)>()
    /// The last tick whose rooms were handed out.
    private(set) var tick = 0

    init(timing: Timing) {
        self.timing = timing
        slots = Array(repeating: [], count: timing.ticksPerPeriod)
    }

    var rooms: Int { phases.count }

    /// How many rooms have their turn at each tick of the period.
    var load: [Int] { slots.map(\.count) }

    /// Gives `room` the least loaded tick (the soonest of those), unless it has one.
    mutating func add(_ room: String) {
        guard phases[room] == nil else { return }
        let count = timing.ticksPerPeriod
        var best = (tick + 1) % count
        for offset in 1..<count {
            let candidate = (tick + 1 + offset) % count
            if slots[candidate].count < slots[best].count { best = candidate }
        }
        slots[best].insert(room)
        phases[room] = best
    }

    mutating func remove(_ room: String) {
        guard let phase = phases.removeValue(forKey: room) else { return }
        slots[phase].remove(room)
    }

    /// The rooms due in the ticks after the last one handed out, up to `now`: their turn, or a
    /// retry. A timer that ran late gets every tick it missed; after a stall longer than a period,
    /// every room once.
    mutating func advance(to now: Int) -> [String] {
        guard now > tick else { return [] }
        let first = max(tick + 1, now - timing.ticksPerPeriod + 1)
        tick = now
        var due: [String] = []
        for passed in first...now {
            due.append(contentsOf: slots[passed % timing.ticksPerPeriod])
        }
        guard retries.first.map({ $0.tick <= now }) == true else { return due }
        var seen = Set(due)
        while let retry = retries.first, retry.tick <= now {
            retries.removeFirst()
            // A room that left meanwhile needs nothing.
            if phases[retry.room] != nil, seen.insert(retry.room).inserted { due.append(retry.room) }
        }
        return due
    }

    /// `room`'s refresh failed: it is due again ``Timing/retryTicks`` after the current tick,
    /// unless its own turn comes first.
    mutating func failed(_ room: String) {
        guard let phase = phases[room] else { return }
        let count = timing.ticksPerPeriod
        let untilTurn = ((phase - tick) % count + count) % count
        let nextTurn = tick + (untilTurn == 0 ? count : untilTurn)
        let retry = tick + timing.retryTicks
        guard retry < nextTurn else { return }
        retries.append((retry, room))
    }
}
