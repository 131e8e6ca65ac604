import Glibc

/// Starts child processes with `posix_spawn`, for the supervisor (workers, the embedded Redis) and
/// for `echo-bench suite` (Redis, echo, generators). Both are multithreaded (the Swift runtime), so
/// `fork` without `exec` is out, and `Foundation.Process` would pass on descriptors we do not
/// control and the blocked signal mask of the thread that spawns.
public enum ProcessSpawner {
    /// Starts `path` with exactly standard input from `/dev/null`, this process's standard output
    /// and error, and each `(source, target)` of `descriptors` duplicated onto `target`; every
    /// other descriptor is closed in the child. Signal dispositions are reset to their defaults and
    /// the signal mask is cleared: ignored or blocked signals survive `exec`, and the supervisor
    /// blocks the ones it reads through `signalfd`.
    public static func spawn(
        path: String, arguments: [String], environment: [String], descriptors: [(source: Int32, target: Int32)]
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var highestTarget: Int32 = 2
        for (source, target) in descriptors {
            // A source equal to its target would keep FD_CLOEXEC and vanish at exec.
            precondition(source != target, "descriptor \(source) must be moved out of the way before spawning")
            posix_spawn_file_actions_adddup2(&actions, source, target)
            highestTarget = max(highestTarget, target)
        }
        try LinuxCalls.addCloseFrom(&actions, from: highestTarget + 1)

        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        // A process group of its own: signals meant for the supervisor's group (a terminal's ^C or
        // hang-up, `timeout`) reach the supervisor alone, which then stops its workers in order.
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SystemError(call: "posix_spawn \(path)", errno: result) }
        return pid
    }

    /// Collects every child that has ended, without blocking.
    public static func reap() -> [(pid: pid_t, status: Int32)] {
        var ended: [(pid_t, Int32)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                ended.append((pid, status))
            } else if pid < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        return ended
    }
}
