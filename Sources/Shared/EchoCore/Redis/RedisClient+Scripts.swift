import NIOCore

extension RedisClient {
    /// Runs a typed script call: EVALSHA (EVAL when Redis does not know the script), then the
    /// call's own decoding of the reply.
    public func run<Call: RedisScriptCall>(_ call: Call) -> EventLoopFuture<Call.Response> {
        run(Call.script, keys: call.keys.map(RESPArgument.string), arguments: call.arguments)
            .flatMapThrowing { try call.decode($0) }
    }
}
