/// One call of a Lua script as a value: the script, its KEYS and ARGV in the order the Lua reads
/// them, and how its reply becomes a Swift value (in the manner of valkey-swift's commands). The
/// reply's shape is known only to the call's own ``decode(_:)``: callers get a typed ``Response``.
///
/// A conforming type keeps the Lua source, the key and argument order and the reply decoding side
/// by side in one file, so a change to one is seen next to the others.
public protocol RedisScriptCall: Sendable {
    associatedtype Response: Sendable
    /// The Lua source (loaded on every connection, run by EVALSHA).
    static var script: RedisScript { get }
    /// KEYS, in the script's order (Redis Cluster routes by them).
    var keys: [String] { get }
    /// ARGV, in the script's order.
    var arguments: [RESPArgument] { get }
    /// The reply as a value; throws ``RedisError`` (`.protocolError`) on a reply of another shape.
    func decode(_ reply: RESPValue) throws -> Response
}

extension RedisScriptCall {
    /// The error for a reply this call cannot read.
    func unexpected(_ reply: RESPValue) -> RedisError {
        RedisError(.protocolError, "unexpected \(Self.script.name) reply: \(reply)")
    }
}
