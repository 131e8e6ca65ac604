/// The WebSocket close codes Echo sends, by name (RFC 6455 §7.4.1 and the IANA registry), so no code
/// carries a bare number. The supervisor picks one when it drains a worker (``ControlMessage/drain``);
/// the worker's connections close with these. docs/protocol.md lists what a client does with each.
public struct CloseCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the client asked to close, or the conversation is over.
    public static let normal = CloseCode(rawValue: 1000)
    /// 1001: the server stops (SIGTERM, scaling down); clients reconnect elsewhere later.
    public static let goingAway = CloseCode(rawValue: 1001)
    /// 1002: a frame broke RFC 6455 (unmasked, reserved bits or opcodes, bad close frame).
    public static let protocolError = CloseCode(rawValue: 1002)
    /// 1003: a binary frame; Echo speaks JSON text only.
    public static let unacceptableData = CloseCode(rawValue: 1003)
    /// 1007: a text frame that is not UTF-8.
    public static let invalidPayload = CloseCode(rawValue: 1007)
    /// 1008: a policy was broken (slow consumer, no join in time, inbound flood).
    public static let policyViolation = CloseCode(rawValue: 1008)
    /// 1009: a message larger than the frame limit.
    public static let messageTooLarge = CloseCode(rawValue: 1009)
    /// 1011: the server failed (its listening socket is gone); clients retry.
    public static let internalError = CloseCode(rawValue: 1011)
    /// 1012: a rolling reload replaces this worker; clients resume at once on a new one.
    public static let serviceRestart = CloseCode(rawValue: 1012)
    /// 4001 (the range RFC 6455 leaves to applications): the room's owner removed this member
    /// (`kick`); a client should not rejoin on its own.
    public static let kicked = CloseCode(rawValue: 4001)

    public var description: String { String(rawValue) }
}
