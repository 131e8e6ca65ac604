
/// One scenario of the suite: its id (the key of its results), the report's heading for it, the
/// number of workers the server runs with, and the load.
public struct BenchSuiteScenario: Sendable, Equatable {
    public var id: String
    public var heading: String
    public var workers: Int
    public var load: Load

    public enum Load: Sendable, Equatable {
        /// One `echo-bench` run with these arguments (a subcommand and its options; the suite adds
        /// the URL, the PIDs to sample and `--json`).
        case generator([String])
        /// S3: several `echo-bench idle` processes at once, sampled by the suite itself.
        case idle(IdleLoad)
    }

    public struct IdleLoad: Sendable, Equatable {
        public var generators: Int
        public var connections: Int
        public var rooms: Int
        public var holdSeconds: Int

        /// The generators hold their connections this much longer than the suite measures, so
        /// none lets go inside the window.
        public static let holdMargin = 15

        /// The arguments of one of the `generators` idle processes.
        public func arguments(url: String) -> [String] {
            [
                "idle", "--connections", "\(connections / generators)", "--rooms", "\(rooms / generators)",
                "--duration", "\(holdSeconds + Self.holdMargin)", "--settle", "0", "--connect-concurrency", "128",
                "--url", url, "--json",
            ]
        }
    }

    /// The command as the report shows it, with `$PORT`, `$ECHO_PID` and `$REDIS_PID` for what
    /// changes from run to run.
    public var commandLine: String {
        switch load {
        case .generator(let arguments):
            return "echo-bench \(arguments.joined(separator: " ")) --url ws://127.0.0.1:$PORT/ws --server-pid $ECHO_PID --redis-pid $REDIS_PID"
        case .idle(let idle):
            let shown = idle.arguments(url: "ws://127.0.0.1:$PORT/ws").filter { $0 != "--json" }
            return "\(idle.generators) × echo-bench \(shown.joined(separator: " ")) (at the same time)"
        }
    }
}
