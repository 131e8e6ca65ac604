import EchoShared
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A process `echo-bench suite` started (redis-server, echo, a generator), with its output in
/// files. ``SuiteProcessRegistry`` stops every one still running when the suite ends.
///
/// Started with ``ProcessSpawner`` (the supervisor's `posix_spawn`) rather than `Foundation.Process`:
/// the suite spawns from Swift's executor threads, which block signals, and a blocked or ignored
/// signal survives `exec` — a redis-server started that way never saw its SIGTERM. The child gets
/// default dispositions, an empty mask, and a process group of its own (a terminal's Ctrl-C
/// reaches the suite alone, which then stops everything in order).
final class SuiteProcess: Sendable {
    let name: String
    let pid: Int
    /// The wait status once reaped.
    private let status = NIOLockedValueBox<Int32?>(nil)

    /// Starts `executable` with `arguments`; stdout goes to `output`, stderr to `errors` (or to
    /// `output` too when nil). `environment` is added to this process's environment.
    init(name: String, executable: String, arguments: [String], environment: [String: String] = [:], output: String, errors: String? = nil) throws {
        self.name = name
        let outputFD = try Self.createFile(output)
        defer { close(outputFD) }
        let errorsFD = try errors.map(Self.createFile) ?? outputFD
        defer { if errorsFD != outputFD { close(errorsFD) } }

        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        do {
            pid = Int(try ProcessSpawner.spawn(
                path: executable, arguments: arguments, environment: merged.map { "\($0.key)=\($0.value)" },
                descriptors: [(outputFD, 1), (errorsFD, 2)]
            ))
        } catch {
            throw BenchFailure(description: "cannot start \(executable): \(error)")
        }
        SuiteProcessRegistry.shared.add(self)
    }

    /// Opens `path` for the child's output, close-on-exec so only the dup2'ed copy is inherited.
    private static func createFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw BenchFailure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        return fd
    }

    /// Reaps the process if it ended (without blocking).
    var isRunning: Bool {
        status.withLockedValue { status in
            guard status == nil else { return false }
            var value: Int32 = 0
            let result = waitpid(pid_t(pid), &value, WNOHANG)
            if result == pid_t(pid) || (result < 0 && errno == ECHILD) {
                status = result < 0 ? 0 : value
                return false
            }
            return true
        }
    }

    /// The exit code, or 128 + the signal that ended it; nil while it runs.
    var exitCode: Int32? {
        guard !isRunning, let status = status.withLockedValue({ $0 }) else { return nil }
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    /// Waits for the process to end by itself; after `limit` seconds it is stopped. Throws when
    /// the suite is interrupted.
    func waitForExit(limit: Double) async throws -> Int32 {
        let end = ContinuousClock.now + .seconds(limit)
        while isRunning, ContinuousClock.now < end {
            try SuiteInterrupt.check()
            try? await Task.sleep(for: .milliseconds(100))
        }
        if isRunning { stop() }
        return exitCode ?? -1
    }

    /// SIGTERM, up to `grace` seconds to exit, then SIGKILL. Blocking: it also runs on the way out.
    func stop(grace: Double = 20) {
        defer { SuiteProcessRegistry.shared.remove(self) }
        guard isRunning else { return }
        kill(pid_t(pid), SIGTERM)
        let end = ContinuousClock.now + .seconds(grace)
        while isRunning, ContinuousClock.now < end { usleep(100_000) }
        if isRunning {
            kill(pid_t(pid), SIGKILL)
            while isRunning { usleep(10_000) }
        }
    }
}
