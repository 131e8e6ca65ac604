import EchoShared

/// The host's TLS session-ticket keys and when the next one is due (like nginx's
/// `ssl_session_ticket_key`, but generated here and held only in memory).
///
/// The newest key encrypts new tickets; the previous one still decrypts, so a ticket issued just
/// before a rotation resumes for one more interval. A ticket's key therefore lasts between one and
/// two intervals (the ticket's own lifetime, OpenSSL's session timeout, may end it sooner); after
/// that the client makes a full handshake. The keys never touch the disk: a restart
/// of the supervisor starts a fresh pair and costs each client one full handshake.
public struct TicketKeyRotation: Sendable {
    /// How often a new key is made (issue 11: every 12 hours).
    public static let defaultInterval: Duration = .seconds(12 * 3600)
    /// Keys kept: the current and the previous one.
    public static let keptKeys = 2

    public let interval: Duration
    /// Newest first, as ``ControlMessage/ticketKeys(_:)`` carries them.
    public private(set) var keys: [[UInt8]]
    public private(set) var nextRotation: ContinuousClock.Instant

    /// Starts with `firstKey`; the first rotation is one `interval` after `now`.
    public init(firstKey: [UInt8], now: ContinuousClock.Instant, interval: Duration = Self.defaultInterval) {
        precondition(firstKey.count == ControlMessage.ticketKeyLength, "a ticket key is \(ControlMessage.ticketKeyLength) bytes")
        self.interval = interval
        self.keys = [firstKey]
        self.nextRotation = now + interval
    }

    /// The message every worker gets: at start and after each rotation.
    public var message: ControlMessage { .ticketKeys(keys) }

    /// Whether a rotation is due at `now`.
    public func isDue(at now: ContinuousClock.Instant) -> Bool { now >= nextRotation }

    /// Puts `newKey` first and drops keys past ``keptKeys``. The next rotation is one interval after
    /// `now` (not after the missed deadline: a supervisor stopped for a day rotates once, not twice).
    public mutating func rotate(to newKey: [UInt8], now: ContinuousClock.Instant) {
        precondition(newKey.count == ControlMessage.ticketKeyLength, "a ticket key is \(ControlMessage.ticketKeyLength) bytes")
        keys.insert(newKey, at: 0)
        keys.removeLast(max(0, keys.count - Self.keptKeys))
        nextRotation = now + interval
    }

    /// A fresh key from the system's CSPRNG (`getrandom`, via ``SystemRandomNumberGenerator``).
    public static func randomKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<ControlMessage.ticketKeyLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
