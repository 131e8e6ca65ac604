import EchoShared
import EchoSupervision
import Glibc
import Logging

extension Supervisor {
    /// Graceful stop: workers stop accepting and close their WebSockets with `closeCode` spread
    /// over the drain window; stragglers are killed at the drain timeout; Redis goes last.
    func beginStop(closeCode: CloseCode, exitCode code: Int32, now: ContinuousClock.Instant) {
        if case .stopping = phase { return }
        if case .stoppingRedis = phase { return }
        exitCode = code
        shutdownCloseCode = closeCode
        phase = .stopping(deadline: now + settings.drainTimeout, killed: false)
        // EXTEND_TIMEOUT_USEC keeps systemd from killing us mid-drain when the drain timeout is
        // longer than TimeoutStopSec (it can only extend, never shorten).
        let extend = settings.drainTimeout + .seconds(5)
        Systemd.notify("STOPPING=1\nEXTEND_TIMEOUT_USEC=\(extend.microseconds)\nSTATUS=\(currentStatus().line)")
        cancelPendingWork()
        closeSlotSockets()
        for worker in workers.values {
            if worker.becameReady {
                drain(pid: worker.pid, closeCode: closeCode, now: now)
            } else {
                // Never accepted anything: closing its link makes it exit at once.
                worker.link.close()
            }
        }
        logger.info("stopping", metadata: ["workers": "\(workers.count)", "drain_timeout": "\(settings.drainTimeout)"])
    }

    /// Fast stop (SIGINT, a second SIGTERM): every worker link is closed, which makes it exit
    /// at once; whatever is left after a second is killed; Redis gets a second too.
    func beginFastStop(now: ContinuousClock.Instant) {
        if fastStop { return }
        fastStop = true
        if case .stoppingRedis = phase { return }
        if phase == .starting || phase == .serving {
            Systemd.notify("STOPPING=1")
        }
        phase = .stopping(deadline: now + .seconds(1), killed: false)
        cancelPendingWork()
        closeSlotSockets()
        for worker in workers.values {
            worker.link.close()
            kill(worker.pid, SIGTERM)
        }
    }

    private func cancelPendingWork() {
        reload = nil
        reloadRequested = false
        for index in slots.indices { slots[index].restartAt = nil }
        redis?.restartAt = nil
    }

    private func closeSlotSockets() {
        guard !socketsClosed else { return }
        socketsClosed = true
        for slot in slots where !slot.socket.isShared { slot.socket.close() }
    }

    func progressShutdown(now: ContinuousClock.Instant) {
        switch phase {
        case .starting, .serving:
            return
        case .stopping(let deadline, let killed):
            if workers.isEmpty {
                stopRedis(now: now)
            } else if now >= deadline && !killed {
                logger.warning("workers still running at the deadline: killing them", metadata: ["workers": "\(workers.count)"])
                for worker in workers.values { kill(worker.pid, SIGKILL) }
                phase = .stopping(deadline: now + .seconds(1), killed: true)
            } else if now >= deadline {
                stopRedis(now: now)
            }
        case .stoppingRedis(let deadline, let killed):
            guard let redis, redis.isRunning, now >= deadline else { return }
            if killed {
                self.redis = nil
            } else {
                logger.warning("redis-server did not stop in time: killing it")
                redis.signal(SIGKILL)
                phase = .stoppingRedis(deadline: now + .seconds(1), killed: true)
            }
        }
    }

    private func stopRedis(now: ContinuousClock.Instant) {
        if let redis, redis.isRunning {
            logger.info("stopping redis-server")
            redis.signal(SIGTERM)
            phase = .stoppingRedis(deadline: now + (fastStop ? .seconds(1) : .seconds(5)), killed: false)
        } else {
            redis = nil
            phase = .stoppingRedis(deadline: now, killed: false)
        }
    }
}
