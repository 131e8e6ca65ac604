@testable import EchoCore
import Foundation
import NIOCore
import NIOEmbedded
import Testing

/// ``RedisCommands/confirmedByReplicas(_:replicas:timeoutMilliseconds:routedBy:)``: which WAITs go
/// out, in what order, and what the caller gets, with replies answered by hand.
@Suite struct RedisReplicasTests {
    /// Records each command sent and lets the test answer them in any order.
    // Used only on the test's thread (an EmbeddedEventLoop runs everything inline).
    final class ScriptedRedis: RedisCommands, @unchecked Sendable {
        let loop = EmbeddedEventLoop()
        var sent: [(words: [String], key: String?, reply: EventLoopPromise<RESPValue>)] = []

        var eventLoop: EventLoop { loop }
        func send(_ command: RESPCommand, routedBy key: String?) -> EventLoopFuture<RESPValue> {
            let words = command.arguments.map { argument -> String in
                switch argument {
                case .string(let s): return s
                case .integer(let i): return String(i)
                case .bytes(let b): return String(buffer: b)
                }
            }
            let promise = loop.makePromise(of: RESPValue.self)
            sent.append((words, key, promise))
            return promise.futureResult
        }
        func run<Call: RedisScriptCall>(_ call: Call) -> EventLoopFuture<Call.Response> {
            loop.makeFailedFuture(RedisError(.unavailable, "not scripted"))
        }
        var isConnected: Bool { true }
        var reconnects: Int { 0 }
        var lastError: String? { nil }
        func start() {}
        func shutdown() {}
    }

    @Test func theWaitIsPipelinedBehindTheWriteAndItsCountReturned() throws {
        let redis = ScriptedRedis()
        let write = redis.send(RESPCommand("EVALSHA", "abc", 1, "stream:r"), routedBy: "stream:r")
        let confirmed = redis.confirmedByReplicas(write, replicas: 1, timeoutMilliseconds: 500, routedBy: "stream:r")
        #expect(redis.sent.map(\.words) == [["EVALSHA", "abc", "1", "stream:r"], ["WAIT", "1", "500"]])
        #expect(redis.sent[1].key == "stream:r")
        redis.sent[0].reply.succeed(.bulkString(ByteBuffer(string: "1-1")))
        redis.sent[1].reply.succeed(.integer(0))
        let (reply, replicas) = try confirmed.wait()
        #expect(reply.string == "1-1")
        #expect(replicas == 0)
        #expect(redis.sent.count == 2)
    }

    @Test func aWriteAnsweredAfterItsWaitIsCoveredByASecondWait() throws {
        // EVALSHA → NOSCRIPT → EVAL: the WAIT queued behind EVALSHA is answered before EVAL's reply.
        let redis = ScriptedRedis()
        let retried = redis.loop.makePromise(of: RESPValue.self)
        let confirmed = redis.confirmedByReplicas(retried.futureResult, replicas: 2, timeoutMilliseconds: 100, routedBy: "k")
        redis.sent[0].reply.succeed(.integer(2))
        retried.succeed(.simpleString("OK"))
        #expect(redis.sent.map(\.words) == [["WAIT", "2", "100"], ["WAIT", "2", "100"]])
        redis.sent[1].reply.succeed(.integer(1))
        #expect(try confirmed.wait().replicas == 1)
    }

    @Test func aFailedWriteFailsWithItsOwnError() {
        let redis = ScriptedRedis()
        let write = redis.loop.makePromise(of: RESPValue.self)
        let confirmed = redis.confirmedByReplicas(write.futureResult, replicas: 1, timeoutMilliseconds: 100, routedBy: "k")
        write.fail(RedisError(.timeout, "no reply"))
        redis.sent[0].reply.succeed(.integer(1))
        #expect(throws: RedisError(.timeout, "no reply")) { try confirmed.wait() }
    }

    @Test func anAnswerThatIsNoCountIsAnError() {
        let redis = ScriptedRedis()
        let write = redis.loop.makeSucceededFuture(RESPValue.integer(1))
        let confirmed = redis.confirmedByReplicas(write, replicas: 1, timeoutMilliseconds: 0, routedBy: "k")
        #expect(redis.sent.map(\.words) == [["WAIT", "1", "1"]])  // 0 would wait forever
        redis.sent[0].reply.succeed(.array([]))
        #expect(throws: RedisError.self) { try confirmed.wait() }
    }

    @Test func aShortfallPausesTheWaitsForALittleWhile() throws {
        let pause = ReplicaWaitPause(length: .milliseconds(100))
        #expect(!pause.isPaused)
        pause.fellShort()
        #expect(pause.isPaused)
        let copy = pause  // the stores' copies share one pause
        #expect(copy.isPaused)
        Thread.sleep(forTimeInterval: 0.15)
        #expect(!pause.isPaused)
    }
}
