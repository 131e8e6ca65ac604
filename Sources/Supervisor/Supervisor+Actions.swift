import EchoShared
import EchoSupervision
import Glibc
import Logging

/// The machine's actions, as system calls. Nothing here decides: where an action can fail, the
/// failure goes back to the machine as an event.
extension Supervisor {
    func perform(_ action: SupervisorStateMachine.Action) {
        switch action {
        case .spawn(let id, let slot, let generation):
            let configuration = generation == .next ? (nextConfiguration ?? self.configuration) : self.configuration
            do {
                try spawnWorker(id, slot: slot, configuration: configuration)
            } catch {
                feed(.spawnFailed(id, reason: "\(error)"))
            }
        case .send(let id, let message):
            processes[id]?.link.send(message)
        case .closeLink(let id):
            processes[id]?.link.close()
        case .kill(let id, let signal):
            if let pid = processes[id]?.pid { kill(pid, signal) }
        case .schedule(let timer, let instant):
            timers[timer] = instant
        case .cancel(let timer):
            timers[timer] = nil
        case .notify(let notification):
            notify(notification)
        case .updateStatus(let force):
            updateStatus(force: force)
        case .broadcastHostStats:
            broadcastHostStats()
        case .writeStateFile(let finished, let reloading, let lastReload):
            let state = SupervisorStateFile(pid: getpid(), reloadsFinished: finished, reloading: reloading, lastReload: lastReload)
            Filesystem.writeAtomically(stateFilePath, contents: state.contents)
        case .loadConfiguration:
            switch prepareReload() {
            case .success(let next):
                nextConfiguration = next
                feed(.configurationLoaded)
            case .failure(let refusal):
                nextConfiguration = nil
                feed(.configurationRefused(reason: refusal.reason))
            }
        case .adoptConfiguration:
            if let next = nextConfiguration { configuration = next }
            nextConfiguration = nil
        case .openSlot:
            do {
                try addSlotSocket()
                feed(.slotOpened)
            } catch {
                feed(.slotOpenFailed(reason: "\(error)"))
            }
        case .closeSlot(let index):
            guard index == sockets.count - 1 else { return }
            let socket = sockets.removeLast()
            if !socket.isShared { socket.close() }
            if redirectSockets.count > sockets.count { redirectSockets.removeLast().close() }
        case .closeSockets:
            closeSockets()
        case .startRedis:
            do {
                try redis?.start()
            } catch {
                feed(.redisStartFailed(reason: "\(error)"))
            }
        case .signalRedis(let signal):
            redis?.signal(signal)
        case .log(let level, let message, let worker, var metadata):
            if let worker, let process = processes[worker] {
                metadata["slot"] = "\(process.slot)"
                metadata["pid"] = "\(process.pid)"
            }
            logger.log(level: level, "\(message)", metadata: metadata)
        case .exit(let code):
            exitCode = code
        }
    }

    /// What a reload would start workers with, or why it cannot: the configuration read again, its
    /// certificate and key checked (a renewal gone wrong stops here, and the old workers keep
    /// serving what they loaded), the worker binary still there.
    func prepareReload() -> Result<EchoConfiguration, ReloadRefusal> {
        let loaded: EchoConfiguration
        do {
            loaded = try loadConfiguration()
        } catch {
            return .failure(ReloadRefusal(reason: "configuration: \(error)"))
        }
        let next: EchoConfiguration
        do {
            next = try Self.checkTLS(loaded, credentialsDirectory: startEnvironment["CREDENTIALS_DIRECTORY"], logger: logger, context: "reload")
        } catch {
            return .failure(ReloadRefusal(reason: "TLS: \(error)"))
        }
        guard access(settings.workerBinary, X_OK) == 0 else {
            return .failure(ReloadRefusal(reason: "\(settings.workerBinary) is missing or not executable"))
        }
        return .success(next)
    }

    struct ReloadRefusal: Error {
        var reason: String
    }

    /// The configuration as it would be read at start now: flags over the environment file over
    /// the process environment. The sockets stay: settings that apply on restart (HOST, PORT,
    /// ECHO_BACKLOG) keep their running values.
    func loadConfiguration() throws -> EchoConfiguration {
        var values = startEnvironment
        if let path = settings.envFile, access(path, F_OK) == 0 {
            values.merge(try EnvironmentFile.read(path: path)) { _, file in file }
        }
        var (next, ignored) = try options.configuration(environment: values).keepingRestartSettings(of: configuration)
        if !ignored.isEmpty {
            logger.warning("changed settings take effect at the next restart, not on reload", metadata: ["settings": "\(ignored.joined(separator: ","))"])
        }
        if next.redisURL == nil, let redis { next.redisURL = redis.url }
        return next
    }
}
