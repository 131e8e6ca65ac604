
/// One scenario of the suite: its id (the key of its results), the report's heading for it, the
/// number of workers the server runs with, and the load.
public struct BenchSuiteScenario: Sendable, Equatable {
    public var id: String
    public var heading: String
    public var workers: Int
    public var load: Load
    /// Over `wss://` against a server serving TLS; the generator trusts the suite's certificate.
    public var tls: Bool

    public init(id: String, heading: String, workers: Int, load: Load, tls: Bool = false) {
        self.id = id
        self.heading = heading
        self.workers = workers
        self.load = load
        self.tls = tls
    }

    public enum Load: Sendable, Equatable {
        /// One `echo-bench` run with these arguments (a subcommand and its options; the suite adds
        /// the URL, the PIDs to sample and `--json`).
        case generator([String])
        /// S3: several `echo-bench idle` processes at once, sampled by the suite itself.
        case idle(IdleLoad)
        /// S6: stepped rates against one Redis and a Redis Cluster; the suite starts both.
        case scaling(ScalingLoad)
        /// Issue 14: the page's crypto cost in Chromium, timed by this script (a path from the
        /// repository root), which needs no server: it prints one JSON object (``BenchBrowserCrypto``).
        case browserCrypto(script: String)
    }

    public struct IdleLoad: Sendable, Equatable {
        public var generators: Int
        public var connections: Int
        public var rooms: Int
        public var holdSeconds: Int

        /// The generators hold their connections this much longer than the suite measures, so
        /// none lets go inside the window.
        public static let holdMargin = 15

        /// The arguments of one of the `generators` idle processes (`tlsCA`: the certificate a
        /// `wss://` generator trusts).
        public func arguments(url: String, tlsCA: String? = nil) -> [String] {
            [
                "idle", "--connections", "\(connections / generators)", "--rooms", "\(rooms / generators)",
                "--duration", "\(holdSeconds + Self.holdMargin)", "--settle", "0", "--connect-concurrency", "128",
                "--url", url,
            ] + (tlsCA.map { ["--tls-ca", $0] } ?? []) + ["--json"]
        }
    }

    /// The command as the report shows it, with `$PORT`, `$ECHO_PID`, `$REDIS_PID` and `$CERT` (the
    /// suite's throwaway certificate) for what changes from run to run.
    public var commandLine: String {
        let url = tls ? "wss://127.0.0.1:$PORT/ws --tls-ca $CERT" : "ws://127.0.0.1:$PORT/ws"
        switch load {
        case .generator(let arguments):
            return "echo-bench \(arguments.joined(separator: " ")) --url \(url) --server-pid $ECHO_PID --redis-pid $REDIS_PID"
        case .idle(let idle):
            let shown = idle.arguments(url: tls ? "wss://127.0.0.1:$PORT/ws" : "ws://127.0.0.1:$PORT/ws", tlsCA: tls ? "$CERT" : nil)
                .filter { $0 != "--json" }
            return "\(idle.generators) × echo-bench \(shown.joined(separator: " ")) (at the same time)"
        case .scaling(let scaling):
            let shown = scaling.arguments(rate: 0, startFile: "$GO").map { $0 == "0" ? "$RATE/\(scaling.generators)" : $0 }
            let rates = scaling.rates.map(String.init).joined(separator: ", ")
            return "\(scaling.generators) × echo-bench \(shown.joined(separator: " ")) --url \(url) --server-pid $ECHO_PID "
                + "--redis-pid $REDIS_PID... (at the same time), $RATE = \(rates) until p99 > \(Int(scaling.p99LimitMilliseconds)) ms"
        case .browserCrypto(let script):
            return "python3 \(script) (the repository's .venv/bin/python3 when there is one; Chromium: $ECHO_CHROMIUM or /usr/bin/chromium)"
        }
    }
}
