import EchoShared
import EchoSupervision
import Glibc
import Logging

/// Worker processes: spawning them, and turning what they say and how they end into events.
extension Supervisor {
    /// Starts worker `id` on `slot`'s socket with `configuration`. Throws when the spawn itself fails.
    func spawnWorker(_ id: WorkerID, slot index: Int, configuration: EchoConfiguration) throws {
        let redirect = index < redirectSockets.count ? redirectSockets[index].fd : nil
        let environment = WorkerEnvironment.build(
            inherited: startEnvironment,
            configuration: configuration.environment,
            slot: index,
            heartbeatMilliseconds: settings.heartbeatInterval.milliseconds,
            redirect: redirect != nil
        )
        let (link, childEnd) = try WorkerLink.makePair()
        defer { close(childEnd) }
        var descriptors = [(sockets[index].fd, WorkerEnvironment.listenFD), (childEnd, WorkerEnvironment.controlFD)]
        if let redirect { descriptors.append((redirect, WorkerEnvironment.redirectFD)) }
        let pid = try ProcessSpawner.spawn(
            path: settings.workerBinary,
            arguments: [],
            environment: WorkerEnvironment.entries(environment),
            descriptors: descriptors
        )
        processes[id] = WorkerProcess(id: id, pid: pid, slot: index, link: link)
        workerByPID[pid] = id
        // Queued before the worker reads its first line: it resumes its peers' tickets as soon as
        // it accepts.
        if configuration.servesTLS { link.send(ticketKeys.message) }
        logger.info("started worker", metadata: ["slot": "\(index)", "pid": "\(pid)", "binary": "\(settings.workerBinary)"])
    }

    func readControl(of process: WorkerProcess) {
        let (messages, closed) = process.link.receive { line in
            logger.warning("unreadable control message", metadata: ["pid": "\(process.pid)", "line": "\(line)"])
        }
        for message in messages { handle(message: message, from: process) }
        if closed {
            // The worker is exiting or gone; waitpid tells the rest.
            process.link.close()
        }
    }

    func handle(message: ControlMessage, from process: WorkerProcess) {
        switch message {
        case .ready:
            // Counted in the host figures from now, not from its first heartbeat: /health on any
            // worker says how many are serving as soon as they are. Zero counts until that
            // heartbeat (a second later); Redis marked up, as it is unless the worker gave up
            // waiting for it (5 s) before saying ready.
            if process.stats == nil { process.stats = WorkerStats(slot: process.slot, pid: process.pid, redisConnected: true) }
            feed(.ready(process.id))
        case .heartbeat(let stats):
            process.stats = stats
            feed(.heartbeat(process.id))
        case .stoppedAccepting:
            feed(.stoppedAccepting(process.id))
        case .drained:
            feed(.drained(process.id))
        case .stopAccepting, .drain, .host, .ticketKeys:
            logger.warning("a worker sent a supervisor's message", metadata: ["pid": "\(process.pid)"])
        }
    }

    /// A child ended: a worker, the embedded redis-server, or something no longer tracked.
    func childExited(pid: Int32, status: Int32) {
        let exit = ProcessExit(waitStatus: status)
        if let redis, redis.exited(pid: pid) {
            redis.output?.drain()
            feed(.redisExited(exit, output: redis.output?.lastLines.joined(separator: " | ") ?? ""))
            return
        }
        guard let id = workerByPID.removeValue(forKey: pid) else { return }
        feed(.workerExited(id, exit))
        processes.removeValue(forKey: id)?.link.close()
    }
}
