import EchoBenchKit
import Histogram
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Drives one run: owns the event loops (one per core), their recorders, the connections, and
/// moves every loop through the phases. Everything per frame happens inside the loops; this type
/// only talks to them a few times a second.
final class BenchRun: Sendable {
    struct Settings: Sendable {
        var targets: [BenchTarget]
        var plan: BenchPlan
        var send: BenchSendSettings
        var sourceAddresses: Int
        var connectConcurrency: Int
        var connectTimeout: TimeAmount
        var joinTimeout: TimeAmount
        var eventLoops: Int
        var roomPrefix: String
        var joinAction: String
        /// Rooms are end-to-end encrypted: joins prove the room's key, chats carry ciphertext.
        var encrypted: Bool
        /// Set when a target is `wss://`.
        var tls: BenchTLS?
    }

    /// Outcome of the connect phase.
    struct Connected: Sendable {
        var joined = 0
        var failed = 0
        /// Connect-to-history latency of each successful join, in microseconds.
        var joinLatency = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: LoopRecorder.highestLatency, numberOfSignificantValueDigits: .three)
        var errorsByCode: [String: Int] = [:]
        var seconds = 0.0
    }

    let settings: Settings
    let group: MultiThreadedEventLoopGroup
    private let loops: [any EventLoop]
    private let recorders: [NIOLoopBoundBox<LoopRecorder>]
    let rooms: BenchRoomRegistry
    private let channels = NIOLockedValueBox<[any Channel]>([])
    private let logger: Logger

    init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: settings.eventLoops)
        loops = Array(group.makeIterator())
        rooms = BenchRoomRegistry(rooms: settings.plan.rooms)
        var recorders: [NIOLoopBoundBox<LoopRecorder>] = []
        let senders = settings.plan.senders
        for (index, loop) in loops.enumerated() {
            let recorder = LoopRecorder(eventLoop: loop, settings: settings.send, seed: UInt64(index + 1) &* 0x9E37_79B9)
            recorder.plannedSenders = (0..<senders).filter { $0 % settings.eventLoops == index }.count
            recorder.totalSenders = senders
            // The box checks that every later access happens on `loop`.
            recorders.append(NIOLoopBoundBox.makeBoxSendingValue(recorder, eventLoop: loop))
        }
        self.recorders = recorders
    }

    /// From now on every loop keeps the latencies between two interval resets (``gather(withHistogram:resetInterval:)``).
    func trackIntervalLatency() async {
        for recorder in recorders {
            try? await recorder.eventLoop.submit {
                recorder.value.intervalLatency = Histogram<UInt64>.merged([])
            }.get()
        }
    }

    func roomID(_ room: Int) -> String { "\(settings.roomPrefix)-\(room)" }

    /// Connects and joins every planned connection, at most `connectConcurrency` at a time.
    /// `progress` is called about once a second with (joined, failed).
    func connectAll(progress: @escaping @Sendable (Int, Int) -> Void) async -> Connected {
        let plan = settings.plan
        let connector = BenchConnector(
            targets: settings.targets, sourceAddresses: settings.sourceAddresses,
            connectTimeout: settings.connectTimeout, joinTimeout: settings.joinTimeout, tls: settings.tls)
        let state = NIOLockedValueBox(Connected())
        let started = BenchClock.nanoseconds()
        let slots = max(1, min(settings.connectConcurrency, plan.connections))
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let (joined, failed) = state.withLockedValue { ($0.joined, $0.failed) }
                progress(joined, failed)
            }
        }
        // Each slot connects its share one after the other: a fixed number of joins in flight,
        // like a pool of impatient clients. The next join starts from the event loop's callback
        // for the last one, so a join costs no task or thread hop (with a task per slot, Swift's
        // global executor threads took a share of the cores in S4).
        let slotsDone = (0..<slots).map { slot in
            let done = loops[slot % loops.count].makePromise(of: Void.self)
            connectChain(slot, step: slots, connector: connector, state: state, done: done)
            return done.futureResult
        }
        for done in slotsDone { try? await done.get() }
        reporter.cancel()
        var result = state.withLockedValue { $0 }
        result.seconds = Double(BenchClock.nanoseconds() - started) / 1e9
        return result
    }

    /// Joins `connection`, then `connection + step`, and so on; completes `done` after the last.
    private func connectChain(
        _ connection: Int, step: Int, connector: BenchConnector, state: NIOLockedValueBox<Connected>, done: EventLoopPromise<Void>
    ) {
        guard connection < settings.plan.connections else {
            done.succeed()
            return
        }
        let start = BenchClock.nanoseconds()
        connect(connection, connector: connector).whenComplete { result in
            switch result {
            case .success(let joinedAt):
                state.withLockedValue {
                    $0.joined += 1
                    _ = $0.joinLatency.record(max(1, (joinedAt &- start) / 1000))
                }
            case .failure(let error):
                let code = (error as? BenchJoinError)?.code ?? "\(error)"
                state.withLockedValue {
                    $0.failed += 1
                    $0.errorsByCode["join: \(code)", default: 0] += 1
                }
            }
            self.connectChain(connection + step, step: step, connector: connector, state: state, done: done)
        }
    }

    private func connect(_ connection: Int, connector: BenchConnector) -> EventLoopFuture<UInt64> {
        let plan = settings.plan
        let loop = loops[connection % loops.count]
        let recorder = recorders[connection % loops.count]
        let room = plan.room(of: connection)
        let role = BenchConnectionHandler.Role(
            connection: connection, roomIndex: room, roomID: roomID(room),
            memberIndex: plan.memberIndex(of: connection), members: plan.members(ofRoom: room),
            username: "u\(connection)", isSender: plan.isSender(connection))
        let rooms = self.rooms
        let joinAction = settings.joinAction
        let encrypted = settings.encrypted
        let channels = self.channels
        let resume = settings.tls?.resume ?? false
        return connector.connect(connection: connection, on: loop, session: { resume ? recorder.value.tlsSession : nil }) { target, maxFrameSize, joined in
            BenchConnectionHandler(
                role: role, recorder: recorder.value, rooms: rooms, joinAction: joinAction, encrypted: encrypted,
                target: target, maxFrameSize: maxFrameSize, resumesTLS: resume, joined: joined)
        }.flatMap { pending in
            channels.withLockedValue { $0.append(pending.channel) }
            return pending.joined
        }
    }

    /// Moves every loop to `phase` (each loop switches on its own thread, microseconds apart).
    func enter(_ phase: BenchPhase) async {
        for recorder in recorders {
            try? await recorder.eventLoop.submit { recorder.value.enter(phase) }.get()
        }
    }

    func gather(withHistogram: Bool, resetInterval: Bool) async -> [LoopSnapshot] {
        var snapshots: [LoopSnapshot] = []
        for recorder in recorders {
            if let snapshot = try? await recorder.eventLoop.submit({
                recorder.value.snapshot(withHistogram: withHistogram, resetInterval: resetInterval)
            }).get() {
                snapshots.append(snapshot)
            }
        }
        return snapshots
    }

    /// Closes every connection and stops the loops.
    func finish() async {
        await enter(.done)
        let all = channels.withLockedValue { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in all { channel.close(promise: nil) }
        for channel in all { try? await channel.closeFuture.get() }
        try? await group.shutdownGracefully()
    }
}
