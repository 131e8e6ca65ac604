import EchoShared
import Glibc

/// The signals the supervisor acts on, read from a `signalfd` inside its poll loop.
///
/// They are blocked in every thread (``blockHandledSignals()`` runs first thing in `main`, before
/// any thread exists, so all later threads inherit the mask) and so are never delivered
/// asynchronously: no handler code, no async-signal-safety concerns, and `SIGCHLD` can never be
/// lost between two `waitpid` calls. Children get an empty mask back (`POSIX_SPAWN_SETSIGMASK`).
struct SignalReceiver: ~Copyable {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGTTIN, SIGTTOU, SIGQUIT, SIGPIPE]

    let fd: Int32

    static func handledSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        return set
    }

    /// Blocks the handled signals in the calling thread (call it from `main` before anything else).
    static func blockHandledSignals() {
        var set = handledSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    init() throws {
        fd = try LinuxCalls.signalFD(mask: Self.handledSet())
    }

    /// Every pending signal, in arrival order (a signal pending twice is reported once, as the kernel does).
    func drain() -> [Int32] {
        var signals: [Int32] = []
        // struct signalfd_siginfo is 128 bytes and starts with `uint32_t ssi_signo`.
        var record = [UInt8](repeating: 0, count: 128)
        while true {
            let n = record.withUnsafeMutableBytes { read(fd, $0.baseAddress, 128) }
            guard n == 128 else { break }
            let signo = record.withUnsafeBytes { $0.load(as: UInt32.self) }
            signals.append(Int32(signo))
        }
        return signals
    }

    deinit {
        close(fd)
    }
}
