import EchoShared
@testable import EchoSupervision
import Glibc
import Testing

private let t0 = ContinuousClock.now

/// Drives a ``SupervisorStateMachine`` the way the supervisor does, with a clock of its own.
private struct Harness {
    typealias Machine = SupervisorStateMachine
    var machine: Machine
    var now = t0

    init(slots: Int = 2, embeddedRedis: Bool = false, settings: Machine.Settings = Machine.Settings()) {
        machine = Machine(settings: settings)
        _ = machine.feed(.start(slots: slots, embeddedRedis: embeddedRedis), at: now)
    }

    @discardableResult
    mutating func feed(_ event: Machine.Event) -> [Machine.Action] {
        machine.feed(event, at: now)
    }

    @discardableResult
    mutating func advance(_ duration: Duration, fire timer: Machine.Timer) -> [Machine.Action] {
        now += duration
        return feed(.timerFired(timer))
    }

    /// Starts every slot's first worker and reports it ready: the supervisor serves.
    mutating func serve() {
        for slot in machine.slots { feed(.ready(slot.worker!)) }
    }

    func worker(of slot: Int) -> WorkerID { machine.slots[slot].worker! }

    /// Runs one slot's step of a reload from `.stopAccepting` to the replacement being ready.
    mutating func rollSlot(_ slot: Int) -> (old: WorkerID, new: WorkerID, actions: [Machine.Action]) {
        let old = worker(of: slot)
        let new = spawned(feed(.stoppedAccepting(old))).first!
        return (old, new, feed(.ready(new)))
    }
}

private func spawned(_ actions: [SupervisorStateMachine.Action]) -> [WorkerID] {
    actions.compactMap { if case .spawn(let id, _, _) = $0 { return id } else { return nil } }
}

private func spawns(_ actions: [SupervisorStateMachine.Action]) -> [(slot: Int, configuration: SupervisorStateMachine.Generation)] {
    actions.compactMap { if case .spawn(_, let slot, let generation) = $0 { return (slot, generation) } else { return nil } }
}

private func drains(_ actions: [SupervisorStateMachine.Action]) -> [WorkerID: CloseCode] {
    var result: [WorkerID: CloseCode] = [:]
    for case .send(let id, .drain(let code, _)) in actions { result[id] = code }
    return result
}

private func kills(_ actions: [SupervisorStateMachine.Action]) -> [(WorkerID, Int32)] {
    actions.compactMap { if case .kill(let id, let signal) = $0 { return (id, signal) } else { return nil } }
}

private func schedules(_ actions: [SupervisorStateMachine.Action]) -> [SupervisorStateMachine.Timer: ContinuousClock.Instant] {
    var result: [SupervisorStateMachine.Timer: ContinuousClock.Instant] = [:]
    for case .schedule(let timer, let at) in actions { result[timer] = at }
    return result
}

private func exits(_ actions: [SupervisorStateMachine.Action]) -> [Int32] {
    actions.compactMap { if case .exit(let code) = $0 { return code } else { return nil } }
}

@Suite struct SupervisorStateMachineStartTests {
    @Test func startsOneWorkerPerSlotAndIsReadyOnlyWhenEverySlotIs() {
        var machine = SupervisorStateMachine()
        let actions = machine.feed(.start(slots: 2, embeddedRedis: false), at: t0)
        #expect(spawns(actions).map(\.slot) == [0, 1])
        #expect(spawns(actions).allSatisfy { $0.configuration == .current })
        // The start timeout guards each new worker.
        #expect(schedules(actions)[.heartbeat(WorkerID(0))] == t0 + .seconds(30))
        #expect(!machine.feed(.ready(WorkerID(0)), at: t0).contains(.notify(.ready)))
        #expect(machine.phase == .starting)
        let last = machine.feed(.ready(WorkerID(1)), at: t0)
        #expect(last.contains(.notify(.ready)))
        #expect(machine.phase == .serving)
        #expect(machine.readyWorkers == 2)
    }
}

@Suite struct SupervisorStateMachineReloadTests {
    @Test func rollsSlotBySlotAndDrainsEachOldWorkerWithServiceRestart() {
        var h = Harness()
        h.serve()
        let begin = h.feed(.reloadRequested)
        #expect(begin == [
            .notify(.reloading),
            .writeStateFile(reloadsFinished: 0, reloading: true, lastReload: "none"),
            .loadConfiguration,
        ])
        let old0 = h.worker(of: 0), old1 = h.worker(of: 1)
        let loaded = h.feed(.configurationLoaded)
        #expect(loaded.contains(.send(old0, .stopAccepting)))
        // Nothing new accepts on slot 0 before its old worker has let go of the socket.
        #expect(spawned(loaded).isEmpty)
        #expect(h.machine.statusPhase == .reloading(slot: 0))

        let spawn0 = h.feed(.stoppedAccepting(old0))
        #expect(spawns(spawn0).map(\.slot) == [0] && spawns(spawn0).first?.configuration == .next)
        let new0 = spawned(spawn0)[0]
        let ready0 = h.feed(.ready(new0))
        #expect(drains(ready0) == [old0: .serviceRestart])
        #expect(ready0.contains(.send(old1, .stopAccepting)))
        #expect(h.machine.slots[0].worker == new0)

        let (_, new1, ready1) = h.rollSlot(1)
        #expect(drains(ready1) == [old1: .serviceRestart])
        #expect(ready1.contains(.adoptConfiguration))
        #expect(ready1.contains(.writeStateFile(reloadsFinished: 1, reloading: false, lastReload: "ok")))
        #expect(ready1.contains(.notify(.ready)))
        #expect(h.machine.slots.map(\.worker) == [new0, new1])
        #expect(!h.machine.isReloading)

        // The drained workers' exits are the plan: no restart, no restart counted.
        #expect(spawned(h.feed(.workerExited(old0, .exited(0)))).isEmpty)
        #expect(spawned(h.feed(.workerExited(old1, .exited(0)))).isEmpty)
        #expect(h.machine.restartsTotal == 0)
    }

    @Test func aRefusedConfigurationKeepsTheOldWorkersAndReportsTheFailure() {
        var h = Harness()
        h.serve()
        let workers = h.machine.slots.map(\.worker)
        h.feed(.reloadRequested)
        let refused = h.feed(.configurationRefused(reason: "configuration: ECHO_HISTORY_LIMIT=many is not valid"))
        #expect(spawned(refused).isEmpty && drains(refused).isEmpty)
        #expect(!refused.contains { if case .send = $0 { return true } else { return false } })
        #expect(refused.contains(.writeStateFile(reloadsFinished: 1, reloading: false, lastReload: "configuration: ECHO_HISTORY_LIMIT=many is not valid")))
        #expect(refused.contains(.notify(.ready)))
        #expect(!refused.contains(.adoptConfiguration))
        #expect(h.machine.reloadFailure?.contains("many") == true)
        #expect(h.machine.slots.map(\.worker) == workers)
        #expect(h.machine.readyWorkers == 2)
        #expect(h.machine.statusPhase == .serving)
    }

    @Test func aReloadDuringAReloadRunsOnceTheFirstIsOver() {
        var h = Harness(slots: 1)
        h.serve()
        h.feed(.reloadRequested)
        h.feed(.configurationLoaded)
        // Queued, not started: no second RELOADING=1, no second configuration read.
        #expect(h.feed(.reloadRequested).isEmpty)
        #expect(h.machine.reloadPending)
        let (_, new, done) = h.rollSlot(0)
        #expect(done.contains(.notify(.ready)))
        // The queued one begins right after the first finished.
        let finished = done.firstIndex(of: .writeStateFile(reloadsFinished: 1, reloading: false, lastReload: "ok"))!
        #expect(done[finished...].contains(.loadConfiguration))
        #expect(!h.machine.reloadPending)
        let second = h.feed(.configurationLoaded)
        #expect(second.contains(.send(new, .stopAccepting)))
    }

    @Test func aReloadAskedForDuringTheStartRunsOnceEverySlotIsReady() {
        var h = Harness(slots: 2)
        #expect(h.feed(.reloadRequested).isEmpty)
        h.feed(.ready(h.worker(of: 0)))
        let ready = h.feed(.ready(h.worker(of: 1)))
        #expect(ready.contains(.notify(.ready)))
        #expect(ready.contains(.loadConfiguration))
    }

    @Test func theOldWorkerCrashingDuringItsReplacementLetsTheReloadGoOn() {
        var h = Harness(slots: 1)
        h.serve()
        h.feed(.reloadRequested)
        let old = h.worker(of: 0)
        h.feed(.configurationLoaded)
        let crashed = h.feed(.workerExited(old, .signaled(SIGSEGV)))
        #expect(spawns(crashed).map(\.configuration) == [.next])
        #expect(h.machine.restartsTotal == 0)
        let new = spawned(crashed)[0]
        let done = h.feed(.ready(new))
        #expect(done.contains(.adoptConfiguration))
        #expect(h.machine.slots[0].worker == new)
    }

    @Test func anotherSlotCrashingDuringAReloadRestartsWithTheCurrentConfiguration() {
        var h = Harness(slots: 2)
        h.serve()
        h.feed(.reloadRequested)
        h.feed(.configurationLoaded)
        let other = h.worker(of: 1)
        h.now += .seconds(60)
        let restarted = h.feed(.workerExited(other, .signaled(SIGKILL)))
        #expect(spawns(restarted).map(\.slot) == [1])
        #expect(spawns(restarted).first?.configuration == .current)
        #expect(h.machine.statusPhase == .reloading(slot: 0))
    }

    @Test func aReplacementThatDiesFailsTheReloadAndTheOldWorkerKeepsItsClients() {
        var h = Harness(slots: 2)
        h.serve()
        h.feed(.reloadRequested)
        h.feed(.configurationLoaded)
        let old = h.worker(of: 0)
        let new = spawned(h.feed(.stoppedAccepting(old)))[0]
        let failed = h.feed(.workerExited(new, .exited(1)))
        #expect(drains(failed).isEmpty)
        #expect(h.machine.slots[0].retained == [old])
        #expect(h.machine.reloadFailure?.contains("exited (exit code 1) before it was ready") == true)
        #expect(failed.contains(.notify(.ready)))
        // Slot 1 was never touched.
        #expect(h.machine.slots[1].worker != nil && !failed.contains(.send(h.worker(of: 1), .stopAccepting)))
        // The slot starts a worker with the configuration that worked, then lets the old one go.
        let restart = h.advance(.milliseconds(500), fire: .restart(slot: 0))
        #expect(spawns(restart).map(\.configuration) == [.current])
        let ready = h.feed(.ready(spawned(restart)[0]))
        #expect(drains(ready) == [old: .serviceRestart])
    }

    @Test func anOldWorkerThatNeverStopsAcceptingIsKilledAndAReplacementNeverReadyFailsTheReload() {
        var h = Harness(slots: 1)
        h.serve()
        h.feed(.reloadRequested)
        let old = h.worker(of: 0)
        let loaded = h.feed(.configurationLoaded)
        #expect(schedules(loaded)[.reload] == h.now + .seconds(5))
        let killed = h.advance(.seconds(5), fire: .reload)
        #expect(kills(killed).map(\.0) == [old] && kills(killed).map(\.1) == [SIGKILL])
        let spawn = h.feed(.workerExited(old, .signaled(SIGKILL)))
        let new = spawned(spawn)[0]
        #expect(schedules(spawn)[.reload] == h.now + .seconds(30))
        let timedOut = h.advance(.seconds(30), fire: .reload)
        #expect(kills(timedOut).map(\.0) == [new])
        #expect(h.machine.reloadFailure?.contains("not ready within") == true)
    }
}

@Suite struct SupervisorStateMachineWorkerTests {
    @Test func aWorkerThatMissesItsHeartbeatsIsAbortedThenKilled() {
        var h = Harness(slots: 1)
        h.serve()
        let worker = h.worker(of: 0)
        h.now += .seconds(3)
        #expect(schedules(h.feed(.heartbeat(worker)))[.heartbeat(worker)] == h.now + .seconds(10))
        let abort = h.advance(.seconds(10), fire: .heartbeat(worker))
        #expect(kills(abort).map(\.1) == [SIGABRT, SIGCONT])
        #expect(schedules(abort)[.killAfterAbort(worker)] == h.now + .seconds(2))
        // A late heartbeat does not save a worker that was aborted.
        #expect(schedules(h.feed(.heartbeat(worker))).isEmpty)
        let kill = h.advance(.seconds(2), fire: .killAfterAbort(worker))
        #expect(kills(kill).map(\.1) == [SIGKILL])
        // Its death is an unplanned one: the slot starts a new worker.
        #expect(spawns(h.feed(.workerExited(worker, .signaled(SIGKILL)))).map(\.slot) == [0])
    }

    @Test func aWorkerNeverReadyIsAbortedAtTheStartTimeout() {
        var h = Harness(slots: 1)
        let abort = h.advance(.seconds(30), fire: .heartbeat(h.worker(of: 0)))
        #expect(kills(abort).map(\.1) == [SIGABRT, SIGCONT])
    }

    @Test func aSlotWhoseWorkersDieYoungBacksOffAndShowsIt() {
        var h = Harness(slots: 2)
        h.serve()
        var delays: [Duration] = []
        for _ in 0..<4 {
            h.now += .milliseconds(50)
            let died = h.feed(.workerExited(h.worker(of: 0), .exited(1)))
            if !spawned(died).isEmpty {
                delays.append(.zero)
            } else if let due = schedules(died)[.restart(slot: 0)] {
                delays.append(due - h.now)
                #expect(h.machine.slotStates(now: h.now)[0].state == .backoff)
                #expect(h.machine.slotStates(now: h.now)[0].retryInMs == Int((due - h.now) / .milliseconds(1)))
                #expect(died.contains(.broadcastHostStats))
                h.now = due
                #expect(spawns(h.feed(.timerFired(.restart(slot: 0)))).map(\.slot) == [0])
            }
        }
        // Slot 0 was ready once (at serve), then died young again and again.
        #expect(delays == [.zero, .milliseconds(100), .milliseconds(200), .milliseconds(400)])
        // The other slot serves throughout.
        #expect(h.machine.slotStates(now: h.now)[1].state == .ready)
        #expect(h.machine.restartsTotal == 4)
    }

    @Test func aFailedSpawnBacksOffInsteadOfSpinning() {
        var h = Harness(slots: 1)
        let failed = h.feed(.spawnFailed(h.worker(of: 0), reason: "ENOENT"))
        #expect(spawned(failed).isEmpty)
        #expect(schedules(failed)[.restart(slot: 0)] == h.now + .milliseconds(100))
        #expect(failed.contains(.cancel(.heartbeat(WorkerID(0)))))
    }

    @Test func aConfigurationErrorStopsEverythingWithExitCode78() {
        var h = Harness(slots: 2)
        h.serve()
        let survivor = h.worker(of: 1)
        let stop = h.feed(.workerExited(h.worker(of: 0), .exited(78)))
        #expect(spawned(stop).isEmpty)
        #expect(stop.contains { if case .notify(.failed(let reason)) = $0 { return reason.contains("exit code 78") } else { return false } })
        #expect(drains(stop)[survivor] != nil)
        #expect(exits(h.feed(.workerExited(survivor, .exited(0)))) == [78])
    }

    @Test func givesUpWithExit1WhenEverySlotFailsFiveStartsAndNoneWasEverReady() {
        var h = Harness(slots: 2)
        var gaveUp = false
        for _ in 0..<5 {
            for slot in 0..<2 {
                guard let id = h.machine.slots[slot].worker else { continue }
                let died = h.feed(.workerExited(id, .exited(3)))
                if died.contains(where: { if case .notify(.failed(let r)) = $0 { return r.contains("no worker could start") } else { return false } }) {
                    gaveUp = true
                }
                if let due = schedules(died)[.restart(slot: slot)] {
                    h.now = max(h.now, due)
                    h.feed(.timerFired(.restart(slot: slot)))
                }
            }
        }
        #expect(gaveUp)
        #expect(h.machine.exitCode == 1)
        // The slot that was starting again has never served: its channel closes; its exit ends echo.
        let starting = h.machine.workers.keys.sorted()
        #expect(starting.count == 1)
        #expect(exits(h.feed(.workerExited(starting[0], .exited(0)))) == [1])
    }
}

@Suite struct SupervisorStateMachineScalingTests {
    @Test func scalingUpAndDownWhileServing() {
        var h = Harness(slots: 2)
        h.serve()
        #expect(h.feed(.scaleUp) == [.openSlot])
        let opened = h.feed(.slotOpened)
        #expect(spawns(opened).map(\.slot) == [2])
        let starting = spawned(opened)[0]
        // Scaling down a slot whose worker never served: its channel closes, nothing to drain.
        let down = h.feed(.scaleDown)
        #expect(down.contains(.closeLink(starting)) && down.contains(.closeSlot(2)))
        let ready = h.worker(of: 1)
        let again = h.feed(.scaleDown)
        #expect(drains(again) == [ready: .goingAway] && again.contains(.closeSlot(1)))
        #expect(h.feed(.scaleDown).contains(where: { if case .log(.warning, let m, _, _) = $0 { return m.contains("minimum") } else { return false } }))
        #expect(h.machine.slots.count == 1)
    }

    @Test func scalingDuringAReloadWaitsForItsEnd() {
        var h = Harness(slots: 2)
        h.serve()
        h.feed(.reloadRequested)
        h.feed(.configurationLoaded)
        #expect(!h.feed(.scaleUp).contains(.openSlot))
        #expect(!h.feed(.scaleUp).contains(.openSlot))
        #expect(!h.feed(.scaleDown).contains { if case .closeSlot = $0 { return true } else { return false } })
        #expect(h.machine.pendingScaling == 1)
        _ = h.rollSlot(0)
        let (_, _, done) = h.rollSlot(1)
        let adopted = done.firstIndex(of: .adoptConfiguration)!
        let opened = done.firstIndex(of: .openSlot)!
        // The new slot opens after the reload adopted its configuration: it starts with it.
        #expect(adopted < opened)
        #expect(spawns(h.feed(.slotOpened)).map(\.configuration) == [.current])
        #expect(h.machine.slots.count == 3)
    }
}

@Suite struct SupervisorStateMachineStopTests {
    @Test func sigtermDuringAReloadDrainsEveryWorkerWithGoingAway() {
        var h = Harness(slots: 2, embeddedRedis: true)
        h.serve()
        h.feed(.reloadRequested)
        h.feed(.configurationLoaded)
        let old0 = h.worker(of: 0), old1 = h.worker(of: 1)
        let new0 = spawned(h.feed(.stoppedAccepting(old0)))[0]
        let stop = h.feed(.stop)
        #expect(stop.contains(.notify(.stopping(extendTimeout: .seconds(15)))))
        #expect(stop.contains(.closeSockets))
        #expect(stop.contains(.cancel(.reload)))
        #expect(drains(stop) == [old0: .goingAway, old1: .goingAway])
        // The replacement never accepted anything: its channel closes and it exits.
        #expect(stop.contains(.closeLink(new0)))
        #expect(!h.machine.isReloading)
        // Its late ready changes nothing.
        #expect(!h.feed(.ready(new0)).contains(.notify(.ready)))
        for id in [old0, old1] { #expect(exits(h.feed(.workerExited(id, .exited(0)))).isEmpty) }
        // Redis goes last, then echo exits 0.
        let last = h.feed(.workerExited(new0, .exited(0)))
        #expect(last.contains(.signalRedis(SIGTERM)))
        #expect(exits(h.feed(.redisExited(.exited(0), output: ""))) == [0])
    }

    @Test func aSecondSigtermIsAFastStopAndStragglersAreKilled() {
        var h = Harness(slots: 1)
        h.serve()
        let worker = h.worker(of: 0)
        h.feed(.stop)
        let fast = h.feed(.stop)
        #expect(fast.contains(.closeLink(worker)) && kills(fast).map(\.1) == [SIGTERM])
        let deadline = h.advance(.seconds(1), fire: .stopDeadline)
        #expect(kills(deadline).map(\.1) == [SIGKILL])
        #expect(exits(h.advance(.seconds(1), fire: .stopDeadline)) == [0])
    }

    /// A worker killed at the stop deadline may be reaped only after Redis began stopping: its
    /// exit is the end of a stop, never a reason to start another worker.
    @Test func aStragglerReapedAfterTheDeadlineIsNotRestarted() {
        var h = Harness(slots: 1, embeddedRedis: true)
        h.serve()
        let worker = h.worker(of: 0)
        h.feed(.stop)
        #expect(kills(h.advance(.seconds(10), fire: .stopDeadline)).map(\.1) == [SIGKILL])
        #expect(h.advance(.seconds(1), fire: .stopDeadline).contains(.signalRedis(SIGTERM)))
        let reaped = h.feed(.workerExited(worker, .signaled(SIGKILL)))
        #expect(spawned(reaped).isEmpty)
        #expect(h.machine.restartsTotal == 0)
        #expect(exits(h.feed(.redisExited(.exited(0), output: ""))) == [0])
    }

    @Test func reloadAndScalingAreIgnoredWhileStopping() {
        var h = Harness(slots: 2)
        h.serve()
        h.feed(.stop)
        #expect(!h.feed(.reloadRequested).contains(.loadConfiguration))
        #expect(!h.feed(.scaleUp).contains(.openSlot))
        #expect(spawned(h.feed(.workerExited(h.worker(of: 0), .signaled(SIGKILL)))).isEmpty)
    }
}

@Suite struct SupervisorStateMachineRedisTests {
    @Test func anEmbeddedRedisThatDiesIsStartedAgainWithBackOff() {
        var h = Harness(slots: 1, embeddedRedis: true)
        h.serve()
        h.now += .seconds(60)
        let died = h.feed(.redisExited(.signaled(SIGKILL), output: "bye"))
        #expect(schedules(died)[.redisRestart] == h.now)
        #expect(h.feed(.timerFired(.redisRestart)) == [.startRedis])
        // It cannot even be spawned: try again a second later.
        let failed = h.feed(.redisStartFailed(reason: "ENOENT"))
        #expect(schedules(failed)[.redisRestart] == h.now + .seconds(1))
        // Workers are untouched throughout.
        #expect(drains(died).isEmpty && kills(died).isEmpty)
        // Young deaths back off.
        h.feed(.timerFired(.redisRestart))
        h.now += .milliseconds(10)
        let again = h.feed(.redisExited(.exited(1), output: ""))
        #expect(schedules(again)[.redisRestart] == h.now + .milliseconds(100))
    }

    @Test func aRedisConfigurationErrorStopsEchoWithInternalError() {
        var h = Harness(slots: 1, embeddedRedis: true)
        h.serve()
        let stop = h.feed(.redisExited(.exited(78), output: "FATAL"))
        #expect(drains(stop) == [h.worker(of: 0): .internalError])
        #expect(h.machine.exitCode == 1)
    }
}
