
/// The TLS handshakes of a run over `wss://`: full ones, and those that resumed a session an
/// earlier connection got (`--tls-resume`). A join storm's joins per second is its handshakes per
/// second, so these say which kind that rate is of.
public struct BenchTLSHandshakes: Sendable, Equatable, Codable {
    public var full: Int
    public var resumed: Int

    public init(full: Int = 0, resumed: Int = 0) {
        self.full = full
        self.resumed = resumed
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        Self(full: lhs.full + rhs.full, resumed: lhs.resumed + rhs.resumed)
    }
}
