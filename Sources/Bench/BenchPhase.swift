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
