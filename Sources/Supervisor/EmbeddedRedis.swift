import EchoShared
import EchoSupervision
import Glibc
import Logging

/// The private `redis-server` that `echo` runs when no `REDIS_URL` is configured: a unix socket in
/// the runtime directory (no TCP port to collide or expose), an append-only file in the state
/// directory, restarted if it dies, stopped after the last worker.
final class EmbeddedRedis {
    let binary: String
    let socketPath: String
    let dataDirectory: String
    private(set) var pid: Int32?
    /// Its standard output and error: logged line by line, the last lines kept for error messages.
    private(set) var output: ChildOutput?
    private let logger: Logger

    init(binary: String, runtimeDirectory: String, stateDirectory: String, logger: Logger) {
        self.binary = binary
        self.socketPath = runtimeDirectory + "/redis.sock"
        self.dataDirectory = stateDirectory + "/redis"
        self.logger = logger
    }

    var url: String { "unix://" + socketPath }

    /// The `redis-server` to run, or a message saying how to get one.
    static func locate(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        let path = ProcessEnvironment.current["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    func start() throws {
        try Filesystem.makeDirectory(dataDirectory)
        var arguments = [
            "--port", "0",
            "--unixsocket", socketPath,
            "--unixsocketperm", "700",
            "--dir", dataDirectory,
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", "",
        ]
        var path = binary
        // The kernel must stop redis-server if the supervisor dies without stopping it (kill -9),
        // and redis-server cannot ask for PR_SET_PDEATHSIG itself: `echo` starts it through its
        // own launcher mode, which sets it and then execs redis-server.
        if access(Self.selfExecutable, X_OK) == 0 {
            arguments = ParentDeathLauncher.arguments(signal: SIGTERM, parent: getpid(), path: binary, arguments: arguments)
            path = Self.selfExecutable
        } else {
            logger.warning("\(Self.selfExecutable) is not readable: redis-server will not be stopped if echo is killed")
        }
        let environment = WorkerEnvironment.entries(ProcessEnvironment.current.filter { !WorkerEnvironment.withheld.contains($0.key) })
        output?.close()
        let output = try ChildOutput(name: "redis-server", logger: logger)
        defer { output.closeWriteEnd() }
        let pid = try ProcessSpawner.spawn(
            path: path, arguments: arguments, environment: environment,
            descriptors: [(output.writeEnd, 1), (output.writeEnd, 2)]
        )
        self.output = output
        self.pid = pid
        logger.info("started redis-server", metadata: ["pid": "\(pid)", "socket": "\(socketPath)", "dir": "\(dataDirectory)"])
    }

    static let selfExecutable = "/proc/self/exe"

    /// Blocks until redis-server answers PING on its socket (only at start, before any worker, so
    /// nothing else reaps children yet). A redis-server that exits meanwhile is noticed at once,
    /// with its exit status and the last lines it wrote.
    func waitUntilReady(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            output?.drain()
            if ping() { return }
            if let pid {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    self.pid = nil
                    output?.drain()
                    throw StartupError(message: "the embedded redis-server exited (\(ProcessExit(waitStatus: status))) before answering\(lastWords)")
                }
            }
            usleep(50_000)
        }
        output?.drain()
        throw StartupError(message: "the embedded redis-server did not answer on \(socketPath) within \(timeout)\(lastWords)")
    }

    /// `: <its last lines>`, or nothing when it wrote nothing.
    var lastWords: String {
        guard let lines = output?.lastLines, !lines.isEmpty else { return "" }
        return ": " + lines.joined(separator: " | ")
    }

    private func ping() -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return false }
        let request = Array("PING\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &reply, reply.count)
        return n >= 5 && String(decoding: reply[0..<5], as: UTF8.self) == "+PONG"
    }

    /// The child `pid` ended; returns whether it was this redis-server.
    func exited(pid ended: Int32) -> Bool {
        guard ended == pid else { return false }
        pid = nil
        return true
    }

    func signal(_ sig: Int32) {
        if let pid { kill(pid, sig) }
    }

}

/// The process environment as a dictionary.
enum ProcessEnvironment {
    static var current: [String: String] {
        var values: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                values[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            pointer += 1
        }
        return values
    }
}

enum Filesystem {
    /// `mkdir -p` with mode 0700 for what it creates.
    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw SystemError(call: "mkdir \(current)", errno: errno)
            }
        }
    }

    /// Replaces `path` with `contents` in one step (write, then rename), so readers never see half a file.
    static func writeAtomically(_ path: String, contents: String) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let bytes = Array(contents.utf8)
        _ = write(fd, bytes, bytes.count)
        close(fd)
        rename(temporary, path)
    }
}
