#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Ctrl-C, SIGTERM or SIGHUP during `echo-bench suite`: the handler only records the signal, and
/// the suite's waits (which all poll) notice it and unwind, so everything it started is stopped
/// on the normal path. A real handler, not SIG_IGN: ignored signals would stay ignored in the
/// children it spawns, and they would no longer stop on SIGTERM.
enum SuiteInterrupt {
    private static let received = Atomic<Int32>(0)

    static func install() {
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in SuiteInterrupt.received.store(number, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }

    /// Throws once a signal arrived.
    static func check() throws(SuiteInterruptedError) {
        let signal = received.load(ordering: .relaxed)
        if signal != 0 { throw SuiteInterruptedError(signal: signal) }
    }

    /// Sleeps `seconds` in short steps, throwing as soon as a signal arrives.
    static func sleep(seconds: Double) async throws {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < end {
            try check()
            try? await Task.sleep(until: min(end, ContinuousClock.now + .milliseconds(100)))
        }
        try check()
    }
}

struct SuiteInterruptedError: Error, CustomStringConvertible {
    var signal: Int32
    var description: String { "interrupted by signal \(signal)" }
    /// The shell's convention for a command killed by a signal.
    var exitCode: Int32 { 128 + signal }
}
