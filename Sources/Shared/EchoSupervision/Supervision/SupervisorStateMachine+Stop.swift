import EchoShared
import Glibc
import Logging

/// Stopping, and the embedded Redis (started again when it dies, stopped after the last worker).
extension SupervisorStateMachine {
    /// The extra time asked of systemd beyond the drain timeout, for Redis and the exit itself.
    static let stopSlack: Duration = .seconds(5)
    /// How long a fast stop waits for workers, and for Redis, before killing them.
    static let fastStopGrace: Duration = .seconds(1)
    static let redisStopTimeout: Duration = .seconds(5)

    mutating func stopRequested() {
        switch phase {
        case .stopping(fast: false):
            emit(.log(.notice, "second SIGTERM: fast stop"))
            beginFastStop()
        default:
            emit(.log(.notice, "SIGTERM: draining"))
            beginStop(closeCode: .goingAway, exitCode: 0)
        }
    }

    /// Graceful stop: workers stop accepting and close their WebSockets with `closeCode` spread
    /// over the drain window; stragglers are killed at the drain timeout; Redis goes last.
    mutating func beginStop(closeCode: CloseCode, exitCode code: Int32) {
        guard isAcceptingCommands || phase == .idle else { return }
        exitCode = code
        phase = .stopping(fast: false)
        // EXTEND_TIMEOUT_USEC keeps systemd from killing us mid-drain when the drain timeout is
        // longer than TimeoutStopSec (it can only extend, never shorten).
        emit(.notify(.stopping(extendTimeout: settings.drainTimeout + Self.stopSlack)))
        cancelPendingWork()
        emit(.closeSockets)
        for id in workers.keys.sorted() {
            if workers[id]?.becameReady == true { drain(id, closeCode: closeCode) } else { dismiss(id) }
        }
        emit(.log(.info, "stopping", metadata: ["workers": "\(workers.count)", "drain_timeout": "\(settings.drainTimeout)"]))
        emit(.schedule(.stopDeadline, at: now + settings.drainTimeout))
        if workers.isEmpty { stopRedis() }
    }

    /// Fast stop (SIGINT, a second SIGTERM): every worker's channel is closed, which makes it exit
    /// at once; whatever is left after a second is killed; Redis gets a second too.
    mutating func beginFastStop() {
        switch phase {
        case .stopping(fast: true), .stoppingRedis, .exited:
            return
        case .idle, .starting, .serving:
            emit(.notify(.stopping(extendTimeout: nil)))
        case .stopping(fast: false):
            break
        }
        phase = .stopping(fast: true)
        stopKilled = false
        cancelPendingWork()
        emit(.closeSockets)
        for id in workers.keys.sorted() {
            workers[id]?.phase = .draining
            emit(.closeLink(id))
            emit(.kill(id, signal: SIGTERM))
        }
        emit(.schedule(.stopDeadline, at: now + Self.fastStopGrace))
        if workers.isEmpty { stopRedis() }
    }

    private mutating func cancelPendingWork() {
        if reload != nil { emit(.cancel(.reload)) }
        reload = nil
        loadingConfiguration = false
        reloadPending = false
        pendingScaling = 0
        for index in slots.indices where slots[index].restartAt != nil {
            slots[index].restartAt = nil
            emit(.cancel(.restart(slot: index)))
        }
        emit(.cancel(.redisRestart))
    }

    mutating func stopDeadlinePassed() {
        guard case .stopping = phase else { return }
        if workers.isEmpty || stopKilled {
            stopRedis()
            return
        }
        emit(.log(.warning, "workers still running at the deadline: killing them", metadata: ["workers": "\(workers.count)"]))
        for id in workers.keys.sorted() { emit(.kill(id, signal: SIGKILL)) }
        stopKilled = true
        emit(.schedule(.stopDeadline, at: now + Self.fastStopGrace))
    }

    /// The workers are gone (or were killed): Redis goes last, then the process exits.
    mutating func stopRedis() {
        guard case .stopping(let fast) = phase else { return }
        emit(.cancel(.stopDeadline))
        phase = .stoppingRedis
        guard redisRunning else {
            exit()
            return
        }
        emit(.log(.info, "stopping redis-server"))
        emit(.signalRedis(SIGTERM))
        emit(.schedule(.redisStopDeadline, at: now + (fast ? Self.fastStopGrace : Self.redisStopTimeout)))
    }

    mutating func redisStopDeadlinePassed() {
        guard phase == .stoppingRedis, redisRunning else { return }
        if redisStopKilled {
            // Killed and still not reaped: nothing more to wait for.
            exit()
            return
        }
        emit(.log(.warning, "redis-server did not stop in time: killing it"))
        emit(.signalRedis(SIGKILL))
        redisStopKilled = true
        emit(.schedule(.redisStopDeadline, at: now + Self.fastStopGrace))
    }

    private mutating func exit() {
        phase = .exited
        emit(.cancel(.redisStopDeadline))
        emit(.log(.info, "echo stopped", metadata: ["exit_code": "\(exitCode)"]))
        emit(.exit(exitCode))
    }

    /// A redis-server that died is started again (with back-off); workers reconnect by themselves.
    mutating func redisExited(_ exit: ProcessExit, output: String) {
        redisRunning = false
        switch phase {
        case .stoppingRedis:
            self.exit()
            return
        case .stopping, .exited, .idle:
            // Expected: the stop signals it once the workers are gone.
            return
        case .starting, .serving:
            break
        }
        let uptime = redisStartedAt.map { now - $0 } ?? .zero
        emit(.log(.error, "the embedded redis-server died", metadata: ["status": "\(exit)", "uptime": "\(uptime)", "last_output": "\(output)"]))
        switch redisRestarts.workerDied(exit, uptime: uptime, becameReady: true) {
        case .restart(let delay):
            emit(.schedule(.redisRestart, at: now + delay))
        case .giveUp(let reason, _):
            emit(.log(.critical, "giving up on the embedded redis-server: \(reason)"))
            beginStop(closeCode: .internalError, exitCode: 1)
        }
    }

    mutating func restartRedis() {
        guard isAcceptingCommands, !redisRunning else { return }
        redisRunning = true
        redisStartedAt = now
        emit(.startRedis)
    }

    mutating func redisStartFailed(_ reason: String) {
        redisRunning = false
        emit(.log(.error, "cannot restart redis-server: \(reason)"))
        guard isAcceptingCommands else { return }
        emit(.schedule(.redisRestart, at: now + settings.redisRetryDelay))
    }
}
