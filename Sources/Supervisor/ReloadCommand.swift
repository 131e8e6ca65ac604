import ArgumentParser
import EchoSupervision
import Foundation
import Glibc

/// `echo reload`, for `ExecReload=`: signals the running supervisor and returns only when the
/// reload it asked for is over (systemd then knows the reload's outcome).
struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Roll every worker of a running echo (SIGHUP) and wait until that is done."
    )

    @Option(help: "The supervisor's pid (default: MAINPID, else the state file's).") var pid: Int32?
    @Option(help: "The supervisor's port, to find its state file when RUNTIME_DIRECTORY is not set (PORT, default 8080).") var port: Int?
    @Option(help: "The supervisor's runtime directory (RUNTIME_DIRECTORY).") var runtimeDir: String?
    @Option(help: "Seconds to wait for the reload to finish.") var timeout: Double = 300

    func run() throws {
        let environment = ProcessEnvironment.current
        let port = self.port ?? environment["PORT"].flatMap { Int($0) } ?? 8080
        let directory = runtimeDir ?? environment["RUNTIME_DIRECTORY"].flatMap { $0.split(separator: ":").first.map(String.init) }
            ?? "/tmp/echo-\(getuid())-\(port)"
        let path = directory + "/" + SupervisorStateFile.fileName
        func state() -> SupervisorStateFile? {
            (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { SupervisorStateFile(contents: $0) }
        }
        guard let before = state() else {
            throw ValidationError("no running echo found: \(path) is missing (pass --runtime-dir or --port)")
        }
        let target = pid ?? environment["MAINPID"].flatMap { Int32($0) } ?? before.pid
        guard kill(target, SIGHUP) == 0 else {
            throw ValidationError("cannot signal echo (pid \(target)): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + Duration(seconds: timeout)
        while ContinuousClock.now < deadline {
            if let now = state(), now.reloadsFinished > before.reloadsFinished, !now.reloading {
                if now.lastReload == "ok" {
                    print("reload done")
                    return
                }
                FileHandleOutput.standardError("echo: reload failed: \(now.lastReload)\n")
                throw ExitCode.failure
            }
            if kill(target, 0) != 0 {
                FileHandleOutput.standardError("echo: the supervisor (pid \(target)) is gone\n")
                throw ExitCode.failure
            }
            usleep(50_000)
        }
        FileHandleOutput.standardError("echo: the reload did not finish within \(timeout) s\n")
        throw ExitCode.failure
    }
}
