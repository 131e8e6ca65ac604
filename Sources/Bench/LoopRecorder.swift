import EchoBenchKit
import EchoTLS
import Histogram
import NIOCore

/// Everything one event loop measures, plus the senders it paces. Only ever touched on its own
/// loop (the coordinator reaches it through `NIOLoopBound`), so the per-delivery path takes no lock
/// and makes no hop: one recorder per loop, merged once at the end.
final class LoopRecorder {
    let eventLoop: any EventLoop
    let settings: BenchSendSettings
    private(set) var phase: BenchPhase = .setup

    var counts = BenchDeliveryCounts()
    /// Delivery latency in microseconds.
    var latency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: LoopRecorder.highestLatency, numberOfSignificantValueDigits: .three)
    var errorsByCode: [String: Int] = [:]
    var joined = 0
    var dropped = 0
    /// TLS handshakes that ended on this loop (`wss://` only).
    var tlsHandshakes = BenchTLSHandshakes()
    /// The newest session a connection on this loop got, offered by the next one (`--tls-resume`).
    var tlsSession: TLSSession?
    /// Delivery latency since the last progress line, in microseconds; kept only when asked
    /// (`fanout --per-second`): copying it every second is otherwise waste.
    var intervalLatency: Histogram<UInt64>?
    /// Deliveries and sends since the last progress line (all phases).
    var intervalDelivered = 0
    var intervalSent = 0
    var maskKeys: SplitMix64

    /// Senders on this loop that have joined, for open-loop pacing.
    private var senders: [BenchConnectionHandler] = []
    private var nextSender = 0
    private var pacingTask: RepeatedTask?
    private var pacingStart: UInt64 = 0
    private var pacedSends = 0
    /// Senders living on this loop (known before sending starts) and all senders in the run: the
    /// loop's share of the total rate.
    var plannedSenders = 0
    var totalSenders = 1

    private(set) var measureStart: UInt64 = 0
    private(set) var measureEnd: UInt64 = 0

    /// 10 minutes in microseconds: anything slower is recorded as this value.
    static let highestLatency: UInt64 = 600_000_000

    init(eventLoop: any EventLoop, settings: BenchSendSettings, seed: UInt64) {
        self.eventLoop = eventLoop
        self.settings = settings
        maskKeys = SplitMix64(seed: seed)
    }

    func recordLatency(nanoseconds: UInt64) {
        let micros = Swift.min(Swift.max(1, nanoseconds / 1000), Self.highestLatency)
        _ = latency.record(micros)
        _ = intervalLatency?.record(micros)
    }

    func countHandshake(resumed: Bool) {
        if resumed { tlsHandshakes.resumed += 1 } else { tlsHandshakes.full += 1 }
    }

    func countError(_ code: String) {
        errorsByCode[code, default: 0] += 1
        if phase == .measure { counts.errors += 1 }
    }

    func register(sender: BenchConnectionHandler) {
        senders.append(sender)
        // A sender that joins after sending started (a slow join) starts at once.
        if phase.isSending, case .saturate = settings.pacing { sender.fillWindow() }
    }

    func unregister(sender: BenchConnectionHandler) {
        senders.removeAll { $0 === sender }
    }

    /// Moves this loop to `next`, starting or stopping its senders.
    func enter(_ next: BenchPhase) {
        let previous = phase
        phase = next
        let now = BenchClock.nanoseconds()
        if next == .measure { measureStart = now }
        if previous == .measure { measureEnd = now }
        if next.isSending, !previous.isSending { startSending(at: now) }
        if !next.isSending {
            pacingTask?.cancel()
            pacingTask = nil
        }
        if next == .done { senders.removeAll() }
    }

    private func startSending(at now: UInt64) {
        switch settings.pacing {
        case .saturate:
            for sender in senders { sender.fillWindow() }
        case .rate(let total):
            guard plannedSenders > 0 else { return }
            let share = total * Double(plannedSenders) / Double(Swift.max(1, totalSenders))
            // A 1 ms tick spreads sends evenly enough for 10 ms latency targets; the burst cap
            // (100 ms worth) spreads any catch-up after a stall over several ticks.
            let schedule = BenchRateSchedule(ratePerSecond: share, maximumBurst: Swift.max(1, Int(share / 10)))
            pacingStart = now
            pacedSends = 0
            // Runs on this loop; the task is cancelled when sending stops, which ends the capture.
            let bound = NIOLoopBound(self, eventLoop: eventLoop)
            pacingTask = eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { _ in
                bound.value.pace(schedule)
            }
        }
    }

    private func pace(_ schedule: BenchRateSchedule) {
        guard phase.isSending, !senders.isEmpty else { return }
        let due = schedule.due(elapsedNanoseconds: BenchClock.nanoseconds() - pacingStart, alreadySent: pacedSends)
        guard due > 0 else { return }
        var touched: [BenchConnectionHandler] = []
        touched.reserveCapacity(Swift.min(due, senders.count))
        for _ in 0..<due {
            if nextSender >= senders.count { nextSender = 0 }
            let sender = senders[nextSender]
            nextSender += 1
            if !sender.hasUnflushedWrites { touched.append(sender) }
            sender.sendOne()
        }
        pacedSends += due
        // One flush per connection per tick, not per message.
        for sender in touched { sender.flush() }
    }
}

/// A copy of one loop's figures, taken on that loop and handed to the coordinator.
struct LoopSnapshot: Sendable {
    var counts: BenchDeliveryCounts
    var latency: Histogram<UInt64>?
    var errorsByCode: [String: Int]
    var joined: Int
    var dropped: Int
    var tlsHandshakes: BenchTLSHandshakes
    var intervalDelivered: Int
    var intervalSent: Int
    var intervalLatency: Histogram<UInt64>?
    var measureStart: UInt64
    var measureEnd: UInt64
}

extension LoopRecorder {
    /// `withHistogram` is false for progress lines: copying the histogram every second is waste.
    func snapshot(withHistogram: Bool, resetInterval: Bool) -> LoopSnapshot {
        let result = LoopSnapshot(
            counts: counts, latency: withHistogram ? latency : nil, errorsByCode: errorsByCode,
            joined: joined, dropped: dropped, tlsHandshakes: tlsHandshakes, intervalDelivered: intervalDelivered, intervalSent: intervalSent,
            intervalLatency: resetInterval ? intervalLatency : nil, measureStart: measureStart, measureEnd: measureEnd)
        if resetInterval {
            intervalDelivered = 0
            intervalSent = 0
            intervalLatency?.reset()
        }
        return result
    }
}
