import ArgumentParser
import Glibc

/// `echo migrate-keys`: copies a Redis in today's key layout into a Redis Cluster in the tagged
/// layout. The work needs the Redis client and the key layout, which are the worker's (`EchoCore`),
/// so this hands over to `echo-worker migrate-keys` (exec: its output and exit status are this
/// command's).
struct MigrateKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-keys",
        abstract: "Copy a Redis in today's key layout into a Redis Cluster in the tagged layout (history, presence, dedupe).",
        discussion: """
            Stop Echo on the old Redis first (or run again once it is stopped: keys already copied are \
            left as they are), then start Echo with REDIS_URL set to the cluster. docs/operations.md, \
            "Moving to Redis Cluster".
            """
    )

    @Option(help: "The Redis in today's layout: redis://, rediss:// or unix://.")
    var from: String

    @Option(help: "The Redis Cluster: redis+cluster://host:port,host:port/ (or rediss+cluster://).")
    var to: String

    @Flag(help: "Count what would be copied; write nothing.")
    var dryRun = false

    @Option(help: "The echo-worker binary (ECHO_WORKER_BINARY; default: next to echo).")
    var workerBinary: String?

    func run() throws {
        let binary = workerBinary ?? ProcessEnvironment.current["ECHO_WORKER_BINARY"] ?? ServeCommand.siblingBinary("echo-worker")
        let arguments = [binary, "migrate-keys", "--from", from, "--to", to] + (dryRun ? ["--dry-run"] : [])
        // main() blocked the supervisor's signals, and a blocked mask survives exec: Ctrl-C must
        // still stop the copy.
        var signals = SignalReceiver.handledSet()
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        execv(binary, arguments.map { strdup($0) } + [nil])
        let error = errno
        throw ValidationError("cannot execute \(binary): \(String(cString: strerror(error)))")
    }
}
