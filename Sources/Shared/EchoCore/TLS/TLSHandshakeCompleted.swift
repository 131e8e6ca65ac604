/// The user event ``TLSHandler`` fires when its handshake ends: handlers behind it may start
/// talking (a client) or note how the connection was made.
public struct TLSHandshakeCompleted: Sendable, Equatable {
    /// A resumed session (a ticket) rather than a full handshake.
    public var sessionReused: Bool
    /// The protocol ALPN chose (`http/1.1`), nil when the client offered none Echo speaks.
    public var alpn: String?

    public init(sessionReused: Bool, alpn: String?) {
        self.sessionReused = sessionReused
        self.alpn = alpn
    }
}
