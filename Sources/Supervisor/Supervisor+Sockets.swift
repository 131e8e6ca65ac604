import EchoSupervision
import Glibc
import Logging

extension Supervisor {
    /// Opens `count` slot sockets, or adopts the one systemd passed (socket activation).
    func openSockets(count: Int) throws {
        let activated = Systemd.listenFileDescriptors(unsetEnvironment: true)
        if let fd = activated.first {
            guard Systemd.isListeningStreamSocket(fd) else {
                throw ListeningSocketError(message: "the socket passed by systemd (fd \(fd)) is not a listening stream socket")
            }
            let adopted = try ListeningSocket.adopt(fd, shared: false)
            logger.info("adopted the socket passed by systemd", metadata: ["fd": "\(fd)", "port": "\(adopted.port)"])
            // ReusePort=yes: the passed socket is slot 0 and the others join its group. The kernel
            // allows that only to the user that bound it, so a socket bound by PID 1 for a
            // DynamicUser= service cannot have siblings: then every worker shares it.
            let sibling = count > 1 && ListeningSocket.hasReusePort(adopted.fd)
                ? try? ListeningSocket.open(besides: adopted.fd, backlog: configuration.backlog) : nil
            if count == 1 || sibling != nil {
                sockets.append(adopted)
                if let sibling { sockets.append(sibling) }
            } else {
                let shared = ListeningSocket(fd: adopted.fd, isShared: true)
                sharedActivatedSocket = adopted.fd
                if count > 1 {
                    logger.warning(
                        "cannot add SO_REUSEPORT sockets beside the one systemd passed (no ReusePort=yes, or another owner): every worker accepts on that one socket; NIO debug builds assert on this, release builds are fine"
                    )
                }
                for _ in 0..<count { sockets.append(shared) }
                return
            }
        }
        while sockets.count < count { try addSlotSocket() }
        logger.info(
            "listening",
            metadata: ["host": "\(configuration.host)", "port": "\(sockets[0].port)", "slots": "\(sockets.count)", "backlog": "\(configuration.backlog)"]
        )
    }

    /// Appends one slot with its own socket in the `SO_REUSEPORT` group.
    func addSlotSocket() throws {
        let socket: ListeningSocket
        if let shared = sharedActivatedSocket {
            socket = ListeningSocket(fd: shared, isShared: true)
        } else if let first = sockets.first {
            socket = try ListeningSocket.open(besides: first.fd, backlog: configuration.backlog)
        } else {
            socket = try ListeningSocket.open(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        }
        sockets.append(socket)
        try fillRedirectSockets()
    }

    /// With `ECHO_HTTP_REDIRECT_PORT`: a socket for it per slot, in one `SO_REUSEPORT` group, held
    /// like the slot sockets. A reload then hands each to the slot's new worker the way it hands
    /// the main one (the old worker closes its copy first): a worker that bound the port itself
    /// would take the connections queued on its socket down with it when it exits.
    func fillRedirectSockets() throws {
        guard let port = configuration.httpRedirectPort else { return }
        while redirectSockets.count < sockets.count {
            let socket = if let first = redirectSockets.first {
                try ListeningSocket.open(besides: first.fd, backlog: configuration.backlog)
            } else {
                try ListeningSocket.open(host: configuration.host, port: port, backlog: configuration.backlog)
            }
            redirectSockets.append(socket)
        }
    }

    /// With no `REDIS_URL`, starts the embedded redis-server and points the workers at it.
    func startRedisIfNeeded() throws {
        guard configuration.redisURL == nil else { return }
        guard let binary = EmbeddedRedis.locate(settings.redisServer) else {
            throw StartupError(
                message: "no REDIS_URL is set and \(settings.redisServer) is not installed: install it (apt-get install redis-server) or set REDIS_URL=redis://host:6379"
            )
        }
        let redis = EmbeddedRedis(
            binary: binary, runtimeDirectory: settings.runtimeDirectory, stateDirectory: settings.stateDirectory,
            logger: logger
        )
        try redis.start()
        self.redis = redis
        do {
            try redis.waitUntilReady(timeout: .seconds(15))
        } catch {
            redis.signal(SIGKILL)
            throw error
        }
        configuration.redisURL = redis.url
    }
}

struct StartupError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
