import EchoShared
import EchoSupervision
import Glibc
import Logging

/// The `echo` process: owns the slot sockets, starts, watches and replaces workers, and speaks for
/// the whole host to systemd.
///
/// Everything runs on one thread in one `poll` loop (signals through `signalfd`, control channels,
/// timers), like nginx's master process or gunicorn's arbiter. That keeps the state in one place
/// with no locks, makes every decision sequential, and makes the watchdog honest: `WATCHDOG=1` is
/// sent from this loop, so if the loop is stuck, systemd hears nothing. Swift concurrency would add
/// nothing here; the parts with real decisions (restart back-off, rolling reload, hang detection)
/// are pure types in `Shared/Supervision`, tested without I/O.
final class Supervisor {
    enum Phase: Equatable {
        case starting
        case serving
        /// Graceful or fast stop: waiting for workers to end; stragglers are killed at `deadline`.
        case stopping(deadline: ContinuousClock.Instant, killed: Bool)
        /// Workers are gone; the embedded Redis (if any) is stopping.
        case stoppingRedis(deadline: ContinuousClock.Instant, killed: Bool)
    }

    struct ReloadRun {
        var machine: RollingReloadStateMachine
        var configuration: EchoConfiguration
    }

    let logger: Logger
    var settings: SupervisorSettings
    /// The configuration workers are started with.
    var configuration: EchoConfiguration
    /// Flags given on the command line: laid over the environment again on every reload.
    let options: EchoOptions
    let startEnvironment: [String: String]
    let signals: SignalReceiver
    var redis: EmbeddedRedis?
    /// Socket activation without `ReusePort=`: the one passed socket serves every slot.
    var sharedActivatedSocket: Int32?

    var phase: Phase = .starting
    var slots: [Slot] = []
    var workers: [Int32: WorkerProcess] = [:]
    var reload: ReloadRun?
    var reloadRequested = false
    var reloadFailure: String?
    var reloadsFinished = 0
    var restartsTotal = 0
    var exitCode: Int32 = 0
    var fastStop = false
    var socketsClosed = false
    var shutdownCloseCode: CloseCode = .goingAway
    let migrateRequestsOff: Bool

    var watchdogInterval: Duration?
    var nextWatchdog: ContinuousClock.Instant = .now
    var nextHostTick: ContinuousClock.Instant = .now
    var lastStatus = ""

    init(
        settings: SupervisorSettings, configuration: EchoConfiguration, options: EchoOptions,
        environment: [String: String], logger: Logger
    ) throws {
        self.settings = settings
        self.configuration = configuration
        self.options = options
        self.startEnvironment = environment
        self.logger = logger
        self.signals = try SignalReceiver()
        self.migrateRequestsOff = Self.readMigrateRequests() == "0"
    }

    /// Starts everything and runs until stopped; returns the process exit code.
    func run() throws -> Int32 {
        if migrateRequestsOff {
            logger.warning(
                "net.ipv4.tcp_migrate_req is 0: removing a worker (SIGTTOU) resets the connections queued on its socket; set it to 1 with sysctl"
            )
        }
        try startRedisIfNeeded()
        do {
            try openSockets(count: settings.workers)
        } catch {
            // Do not leave the embedded redis-server behind when the port cannot be had.
            redis?.signal(SIGTERM)
            throw error
        }
        let now = ContinuousClock.now
        for index in slots.indices { spawnWorker(slot: index, now: now) }
        if let interval = Systemd.watchdogInterval() {
            watchdogInterval = interval / 2
            logger.info("systemd watchdog on", metadata: ["interval": "\(interval)"])
        }
        writeStateFile()
        updateStatus(force: true)
        while !isFinished {
            pollOnce()
            tick(now: .now)
        }
        removeStateFile()
        if !socketsClosed {
            for slot in slots where !slot.socket.isShared { slot.socket.close() }
        }
        if let shared = sharedActivatedSocket { close(shared) }
        logger.info("echo stopped", metadata: ["exit_code": "\(exitCode)"])
        return exitCode
    }

    private var isFinished: Bool {
        if case .stoppingRedis = phase, redis?.isRunning != true { return true }
        return false
    }

    /// Waits up to 100 ms for a signal or control-channel traffic. The short bound is the timer
    /// resolution: restarts, deadlines and watchdog pings are checked every pass.
    private func pollOnce() {
        var descriptors = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
        var owners: [WorkerProcess] = []
        for worker in workers.values where worker.link.isOpen {
            var events = Int16(POLLIN)
            if worker.link.wantsWrite { events |= Int16(POLLOUT) }
            descriptors.append(pollfd(fd: worker.link.fd, events: events, revents: 0))
            owners.append(worker)
        }
        let redisOutput = redis?.output.flatMap { $0.isOpen ? $0.fd : nil }
        if let redisOutput { descriptors.append(pollfd(fd: redisOutput, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&descriptors, nfds_t(descriptors.count), 100)
        guard ready > 0 else { return }
        if descriptors[0].revents != 0 {
            for signal in signals.drain() { handle(signal: signal) }
        }
        if let redisOutput, let last = descriptors.last, last.fd == redisOutput, last.revents != 0,
           let output = redis?.output, output.fd == redisOutput, !output.drain() {
            // Its end closed (the child is gone): stop polling a descriptor that is always readable.
            output.close()
        }
        for (index, worker) in owners.enumerated() {
            let revents = descriptors[index + 1].revents
            guard revents != 0, workers[worker.pid] != nil else { continue }
            if revents & Int16(POLLOUT) != 0 { worker.link.flush() }
            if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readControl(of: worker) }
        }
    }

    /// Timers, once per loop pass.
    private func tick(now: ContinuousClock.Instant) {
        restartDueSlots(now: now)
        checkWorkerDeadlines(now: now)
        if var run = reload {
            let actions = run.machine.tick(now: now)
            reload = run
            perform(reloadActions: actions, now: now)
        }
        progressShutdown(now: now)
        restartRedisIfDue(now: now)
        if now >= nextHostTick {
            nextHostTick = now + settings.heartbeatInterval
            broadcastHostStats()
            updateStatus()
        }
        if let interval = watchdogInterval, now >= nextWatchdog {
            nextWatchdog = now + interval
            Systemd.notify("WATCHDOG=1")
        }
    }

    private static func readMigrateRequests() -> String? {
        let fd = open("/proc/sys/net/ipv4/tcp_migrate_req", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self).filter { !$0.isWhitespace }
    }
}
