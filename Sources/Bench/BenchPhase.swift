/// Where a run is. Each event loop holds its own copy (set by the coordinator through
/// `EventLoop.execute`), so the per-frame path reads it without synchronisation.
enum BenchPhase: Sendable, Equatable {
    /// Connecting and joining; nobody sends.
    case setup
    /// Sending, deliveries are not counted (caches, JIT-less warm-up of buffers and Redis).
    case warmUp
    /// Sending; every message sent now is counted and its deliveries awaited.
    case measure
    /// No new sends; waiting for the last deliveries.
    case drain
    case done

    var isSending: Bool { self == .warmUp || self == .measure }
}

/// How senders pace themselves.
enum BenchPacing: Sendable, Equatable {
    /// Closed loop: each sender keeps `window` messages in flight (sent, not yet echoed back to it).
    case saturate(window: Int)
    /// Open loop: `messagesPerSecond` in total, spread evenly over the senders.
    case rate(messagesPerSecond: Double)
}

/// What a connection needs to know to send (fixed for the whole run).
struct BenchSendSettings: Sendable {
    var pacing: BenchPacing
    /// Length of each chat text in bytes (the stamp is padded up to it).
    var messageSize: Int
}

/// A cheap generator for WebSocket masking keys. The keys only have to be unpredictable to
/// intermediaries, which loopback has none of; `SystemRandomNumberGenerator` would cost a
/// `getrandom` call per frame.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
