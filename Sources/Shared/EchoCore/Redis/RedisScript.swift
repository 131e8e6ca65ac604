/// A Lua script, run with EVALSHA once Redis knows it (EVAL the first time and after NOSCRIPT).
public struct RedisScript: Sendable {
    public let name: String
    public let source: String
    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }
}
