import EchoShared
import Glibc

/// `echo __exec-with-pdeathsig SIGNAL PARENT -- PATH [ARG...]`: a hidden mode of the `echo` binary
/// that makes the kernel send SIGNAL to PATH when its parent (the supervisor) dies, then becomes
/// PATH.
///
/// `redis-server` cannot ask for `PR_SET_PDEATHSIG` itself, and `setpriv --pdeathsig` fails in
/// echo.service's sandbox ("activate capabilities: Operation not permitted": it applies capability
/// sets, which an empty `CapabilityBoundingSet=` refuses). `prctl(PR_SET_PDEATHSIG)` needs no
/// privilege, and the setting survives `execv` (unless PATH is set-user-ID, which redis-server is not).
///
/// The supervisor spawns `/proc/self/exe` in this mode, so the launcher is the very binary that is
/// running even if a new `echo` was installed over it since.
enum ParentDeathLauncher {
    static let mode = "__exec-with-pdeathsig"

    /// The argument vector (without argv[0]) that runs `path` with `arguments` under the launcher.
    static func arguments(signal: Int32, parent: pid_t, path: String, arguments: [String]) -> [String] {
        [mode, String(signal), String(parent), "--", path] + arguments
    }

    /// When `arguments` (a full argv) asks for the launcher, runs it and never returns; otherwise
    /// returns at once. Call it first thing in `main`, before signals are blocked: the blocked mask
    /// would survive `execv`.
    static func runIfRequested(_ arguments: [String]) {
        guard arguments.count > 1, arguments[1] == mode else { return }
        let rest = Array(arguments.dropFirst(2))
        guard rest.count >= 4, rest[2] == "--", let signal = Int32(rest[0]), signal > 0, signal < 65,
              let parent = pid_t(rest[1]), parent > 0
        else {
            fail("usage: echo \(mode) SIGNAL PARENT-PID -- PATH [ARG...]", code: 2)
        }
        let path = rest[3]
        do {
            try LinuxCalls.setParentDeathSignal(signal)
        } catch {
            fail("\(error)", code: 1)
        }
        // The parent may have died before the prctl: then nobody will ever send the signal, and
        // this process must not start a server that outlives the supervisor.
        if getppid() != parent {
            fail("the parent (pid \(parent)) is already gone; not starting \(path)", code: 1)
        }
        let argv = Array(rest.dropFirst(3)).map { strdup($0) } + [nil]
        execv(path, argv)
        let error = errno
        fail("cannot execute \(path): \(String(cString: strerror(error)))", code: 127)
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        let bytes = Array("echo \(mode): \(message)\n".utf8)
        _ = write(2, bytes, bytes.count)
        exit(code)
    }
}
