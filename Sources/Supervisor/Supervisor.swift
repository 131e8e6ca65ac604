import EchoShared
import EchoSupervision
import Glibc
import Logging

/// The `echo` process: owns the slot sockets, the worker processes and the embedded Redis, and
/// speaks for the whole host to systemd.
///
/// It decides nothing: every decision (restarts and back-off, the rolling reload, scaling, hang
/// detection, stopping) is ``SupervisorStateMachine``'s. This class turns what happens (signals
/// from a `signalfd`, child exits, control-channel lines, timers) into the machine's events and
/// carries out the actions it returns (`Supervisor+Actions.swift`).
///
/// Everything runs on one thread in one `poll` loop, like nginx's master process or gunicorn's
/// arbiter. That keeps the state in one place with no locks, makes every decision sequential, and
/// makes the watchdog honest: `WATCHDOG=1` is sent from this loop, so if the loop is stuck,
/// systemd hears nothing.
final class Supervisor {
    let logger: Logger
    let settings: SupervisorSettings
    /// The configuration workers are started with.
    var configuration: EchoConfiguration
    /// The configuration a reload loaded, until the reload adopts it.
    var nextConfiguration: EchoConfiguration?
    /// Flags given on the command line: laid over the environment again on every reload.
    let options: EchoOptions
    let startEnvironment: [String: String]
    let signals: SignalReceiver
    var redis: EmbeddedRedis?
    /// Socket activation without `ReusePort=`: the one passed socket serves every slot.
    var sharedActivatedSocket: Int32?

    var machine: SupervisorStateMachine
    /// One listening socket per slot, in slot order (the machine's slots and these grow and
    /// shrink together, at the end).
    var sockets: [ListeningSocket] = []
    /// With `ECHO_HTTP_REDIRECT_PORT`: each slot's socket for it, in slot order like `sockets`.
    var redirectSockets: [ListeningSocket] = []
    var socketsClosed = false
    var processes: [WorkerID: WorkerProcess] = [:]
    var workerByPID: [Int32: WorkerID] = [:]
    var timers: [SupervisorStateMachine.Timer: ContinuousClock.Instant] = [:]
    /// Events raised while carrying out actions (a failed spawn, a loaded configuration): fed
    /// after the current batch, in order.
    var queuedEvents: [SupervisorStateMachine.Event] = []
    var feeding = false
    var exitCode: Int32?
    let migrateRequestsOff: Bool

    var watchdogInterval: Duration?
    var nextWatchdog: ContinuousClock.Instant = .now
    var nextHostTick: ContinuousClock.Instant = .now
    var lastStatus = ""
    /// The host's TLS session-ticket keys: in memory only, handed to each worker as it starts and
    /// to all on every rotation (Supervisor+TLS.swift).
    var ticketKeys: TicketKeyRotation

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
        var machineSettings = SupervisorStateMachine.Settings()
        machineSettings.heartbeatTimeout = settings.heartbeatTimeout
        machineSettings.startTimeout = settings.startTimeout
        machineSettings.killGrace = settings.killGrace
        machineSettings.drainTimeout = settings.drainTimeout
        machineSettings.drainWindow = settings.drainWindow
        self.machine = SupervisorStateMachine(settings: machineSettings)
        self.ticketKeys = TicketKeyRotation(firstKey: TicketKeyRotation.randomKey(), now: .now, interval: settings.ticketKeyRotation)
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
            try fillRedirectSockets()
        } catch {
            // Do not leave the embedded redis-server behind when the port cannot be had.
            redis?.signal(SIGTERM)
            throw error
        }
        if let interval = Systemd.watchdogInterval() {
            watchdogInterval = interval / 2
            logger.info("systemd watchdog on", metadata: ["interval": "\(interval)"])
        }
        feed(.start(slots: sockets.count, embeddedRedis: redis != nil))
        while exitCode == nil {
            pollOnce()
            tick(now: .now)
        }
        removeStateFile()
        closeSockets()
        if let shared = sharedActivatedSocket { close(shared) }
        return exitCode ?? 1
    }

    /// The one way into the machine: feeds `event`, then carries out the actions, then feeds the
    /// events those actions raised.
    func feed(_ event: SupervisorStateMachine.Event) {
        queuedEvents.append(event)
        guard !feeding else { return }
        feeding = true
        defer { feeding = false }
        while !queuedEvents.isEmpty {
            let next = queuedEvents.removeFirst()
            for action in machine.feed(next, at: .now) { perform(action) }
        }
    }

    /// Waits for a signal or control-channel traffic, at most until the next timer and never more
    /// than 100 ms (the watchdog and the host figures are checked every pass).
    private func pollOnce() {
        var descriptors = [pollfd(fd: signals.fd, events: Int16(POLLIN), revents: 0)]
        var owners: [WorkerProcess] = []
        for process in processes.values where process.link.isOpen {
            var events = Int16(POLLIN)
            if process.link.wantsWrite { events |= Int16(POLLOUT) }
            descriptors.append(pollfd(fd: process.link.fd, events: events, revents: 0))
            owners.append(process)
        }
        let redisOutput = redis?.output.flatMap { $0.isOpen ? $0.fd : nil }
        if let redisOutput { descriptors.append(pollfd(fd: redisOutput, events: Int16(POLLIN), revents: 0)) }
        var timeout = 100
        if let next = timers.values.min() {
            timeout = max(0, min(timeout, (next - .now).milliseconds + 1))
        }
        let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(timeout))
        guard ready > 0 else { return }
        if descriptors[0].revents != 0 {
            for signal in signals.drain() { handle(signal: signal) }
        }
        if let redisOutput, let last = descriptors.last, last.fd == redisOutput, last.revents != 0,
           let output = redis?.output, output.fd == redisOutput, !output.drain() {
            // Its end closed (the child is gone): stop polling a descriptor that is always readable.
            output.close()
        }
        for (index, process) in owners.enumerated() {
            let revents = descriptors[index + 1].revents
            guard revents != 0, processes[process.id] === process else { continue }
            if revents & Int16(POLLOUT) != 0 { process.link.flush() }
            if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 { readControl(of: process) }
        }
    }

    /// Due timers go to the machine; the watchdog and the host figures are the loop's own.
    private func tick(now: ContinuousClock.Instant) {
        let due = timers.filter { $0.value <= now }.sorted { $0.value < $1.value }
        for (timer, _) in due where timers[timer].map({ $0 <= now }) == true {
            timers[timer] = nil
            feed(.timerFired(timer))
        }
        if now >= nextHostTick {
            nextHostTick = now + settings.heartbeatInterval
            broadcastHostStats()
            updateStatus()
        }
        rotateTicketKeysIfDue(now: now)
        if let interval = watchdogInterval, now >= nextWatchdog {
            nextWatchdog = now + interval
            Systemd.notify("WATCHDOG=1")
        }
    }

    func closeSockets() {
        guard !socketsClosed else { return }
        socketsClosed = true
        for socket in sockets where !socket.isShared { socket.close() }
        for socket in redirectSockets { socket.close() }
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
