
/// What `echo-bench suite` runs: the standard scenarios S1–S5 of issue 5 (and S1, S3, S4 over TLS,
/// S1 in end-to-end encrypted rooms, the page's crypto cost in Chromium), their sizes, how many
/// runs each, and in which order against which server. Pure data, so the report and the tests see
/// exactly the commands the suite starts.
public struct BenchSuitePlan: Sendable, Equatable {
    /// Scenario sizes. Full mode follows issue 5; quick mode keeps every scenario under ~10 s.
    public struct Sizes: Sendable, Equatable {
        public var duration: Int
        public var warmup: Int
        public var idleConnections: Int
        public var idleRooms: Int
        public var idleHold: Int
        /// S3 needs more sockets than one process may open here (RLIMIT_NOFILE 20000 on the
        /// reference machine), so it runs several generator processes at once.
        public var idleGenerators: Int
        public var stormConnections: Int
        public var stormRooms: Int
        public var stormConcurrency = 100
        public var messageSize = 100
        /// S6: rooms × members, and the offered rates it steps through.
        public var scalingRooms = 2000
        public var scalingMembers: Int
        public var scalingRates: [Int]

        public static let full = Sizes(
            duration: 10, warmup: 2, idleConnections: 20000, idleRooms: 2000, idleHold: 30, idleGenerators: 2,
            stormConnections: 5000, stormRooms: 500, scalingMembers: 10, scalingRates: [2000, 4000, 6000, 8000])
        public static let quick = Sizes(
            duration: 3, warmup: 1, idleConnections: 2000, idleRooms: 200, idleHold: 5, idleGenerators: 1,
            stormConnections: 1000, stormRooms: 100, scalingMembers: 2, scalingRates: [2000, 6000])
    }

    public var quick: Bool
    public var runs: Int
    public var sizes: Sizes
    /// The scenarios to run, by id; nil runs all. The report still lists every scenario, and the
    /// ones left out say they have no run.
    public var only: Set<String>?

    /// `runs` defaults to 3, or 1 in quick mode.
    public init(quick: Bool, runs: Int? = nil, only: Set<String>? = nil) {
        self.quick = quick
        self.runs = max(1, runs ?? (quick ? 1 : 3))
        sizes = quick ? .quick : .full
        self.only = only
    }

    /// The script that times the page's crypto in Chromium (E2E-browser), from the repository root.
    public static let browserCryptoScript = "scripts/bench_e2e_browser.py"

    /// Every scenario, in the order the report shows them.
    public var scenarios: [BenchSuiteScenario] {
        let fanoutCommon = ["--message-size", "\(sizes.messageSize)", "--duration", "\(sizes.duration)", "--warmup", "\(sizes.warmup)"]
        let s1 = ["fanout", "--connections", "100", "--rooms", "1", "--window", "4"] + fanoutCommon
        let s2 = { (rate: Int) in ["fanout", "--connections", "2000", "--rooms", "200", "--rate", "\(rate)"] + fanoutCommon }
        let s4 = [
            "joinstorm", "--connections", "\(sizes.stormConnections)", "--rooms", "\(sizes.stormRooms)",
            "--concurrency", "\(sizes.stormConcurrency)",
        ]
        let idle = BenchSuiteScenario.IdleLoad(
            generators: sizes.idleGenerators, connections: sizes.idleConnections, rooms: sizes.idleRooms, holdSeconds: sizes.idleHold)
        // Two generators: 20,000 connections are more than one process may open here.
        let scaling = BenchSuiteScenario.ScalingLoad(
            rooms: sizes.scalingRooms, members: sizes.scalingMembers, generators: 2, rates: sizes.scalingRates,
            duration: sizes.duration, warmup: sizes.warmup, messageSize: sizes.messageSize, shards: 3, p99LimitMilliseconds: 10)
        return [
            BenchSuiteScenario(
                id: "S1", heading: "S1 fan-out: 1 room × 100 members, all send, saturate (window 4), 2 workers",
                workers: 2, load: .generator(s1)),
            // Issue 14: S1 in end-to-end encrypted rooms, and what the page's crypto costs.
            BenchSuiteScenario(
                id: "S1-e2e",
                heading: "S1 in end-to-end encrypted rooms: 1 room × 100 members, key proof at join, ciphertext as long as S1's text, all send, saturate (window 4), 2 workers",
                workers: 2, load: .generator(s1 + ["--encrypted"])),
            BenchSuiteScenario(
                id: "E2E-browser",
                heading: "End-to-end encryption in Chromium: a 3 MiB image and a 1,000-message history, encrypted and decrypted by the page",
                workers: 0, load: .browserCrypto(script: Self.browserCryptoScript)),
            BenchSuiteScenario(
                id: "S2-10k", heading: "S2 many rooms: 200 rooms × 10 members, 10,000 msgs/s in, 2 workers",
                workers: 2, load: .generator(s2(10000))),
            BenchSuiteScenario(
                id: "S2-20k", heading: "S2 many rooms: 200 rooms × 10 members, 20,000 msgs/s in, 2 workers",
                workers: 2, load: .generator(s2(20000))),
            BenchSuiteScenario(
                id: "S3",
                heading: "S3 idle: \(sizes.idleConnections) joined connections (\(sizes.idleRooms) rooms), held \(sizes.idleHold) s, 2 workers",
                workers: 2, load: .idle(idle)),
            BenchSuiteScenario(
                id: "S4",
                heading: "S4 join storm: \(sizes.stormConnections) clients connect + join + history, \(sizes.stormConcurrency) at a time, 2 workers",
                workers: 2, load: .generator(s4)),
            BenchSuiteScenario(id: "S5-S1-w1", heading: "S5: S1 with 1 worker", workers: 1, load: .generator(s1)),
            BenchSuiteScenario(id: "S5-S2-w1", heading: "S5: S2 (10,000 msgs/s) with 1 worker", workers: 1, load: .generator(s2(10000))),
            // Issue 11: the same loads over TLS (wss://, a throwaway P-256 certificate).
            BenchSuiteScenario(id: "S1-tls", heading: "S1 over TLS: 1 room × 100 members, all send, saturate (window 4), 2 workers", workers: 2, load: .generator(s1), tls: true),
            BenchSuiteScenario(
                id: "S1-tls-compact", heading: "S1 over TLS with ECHO_TLS_RECORDS=compact: 1 room × 100 members, all send, saturate (window 4), 2 workers",
                workers: 2, load: .generator(s1), tls: true),
            BenchSuiteScenario(
                id: "S3-tls",
                heading: "S3 idle over TLS: \(sizes.idleConnections) joined connections (\(sizes.idleRooms) rooms), held \(sizes.idleHold) s, 2 workers",
                workers: 2, load: .idle(idle), tls: true),
            BenchSuiteScenario(
                id: "S3-tls-compact",
                heading: "S3 idle over TLS with ECHO_TLS_RECORDS=compact: \(sizes.idleConnections) joined connections (\(sizes.idleRooms) rooms), held \(sizes.idleHold) s, 2 workers",
                workers: 2, load: .idle(idle), tls: true),
            BenchSuiteScenario(
                id: "S4-tls",
                heading: "S4 over TLS, full handshakes: \(sizes.stormConnections) clients connect + handshake + join + history, \(sizes.stormConcurrency) at a time, 2 workers",
                workers: 2, load: .generator(s4), tls: true),
            BenchSuiteScenario(
                id: "S4-tls-resumed",
                heading: "S4 over TLS, resumed handshakes: each client offers the session an earlier one got, 2 workers",
                workers: 2, load: .generator(s4 + ["--tls-resume"]), tls: true),
            // Issue 12: one Redis against a Redis Cluster of 3 primaries.
            BenchSuiteScenario(
                id: "S6",
                heading: "S6 Redis Cluster: \(sizes.scalingRooms) rooms × \(sizes.scalingMembers) members, stepped rates, one Redis and a 3-primary cluster, 2 workers",
                workers: 2, load: .scaling(scaling)),
        ]
    }

    public func scenario(_ id: String) -> BenchSuiteScenario? { scenarios.first { $0.id == id } }

    /// One server start and what runs against it.
    public struct Stage: Sendable, Equatable {
        public var workers: Int
        /// S3 measures memory growth, so each of its runs gets a fresh server: a heap grown by
        /// earlier scenarios would absorb the new connections and hide their cost.
        public var freshServerPerRun: Bool
        public var scenarioIDs: [String]
        /// The server serves only TLS on its port (a throwaway certificate the suite makes).
        public var tls = false
        /// Settings the server gets on top of the suite's own (`ECHO_TLS_RECORDS=compact`).
        public var settings: [String: String] = [:]
        /// The scenario starts its own Redis layouts and a server on each (S6): the stage starts none.
        public var serverPerLayout = false
        /// The scenarios talk to no server at all (E2E-browser): the stage starts none and runs each once.
        public var needsServer = true
        /// Runs go round the scenarios (A, B, A, B, ...) instead of one scenario's runs after the
        /// other's: for scenarios compared with each other (S1 and S1-e2e), a drift of the machine
        /// during the stage then weighs on both alike.
        public var interleaved = false
    }

    /// The order the suite runs in: S1 and S1 in encrypted rooms alternately on one 2-worker server,
    /// S2 and S4 on another, S3 on a fresh server per run, then the S5 comparisons on a 1-worker
    /// server, then the TLS rows the same way, then S6 with its own Redis layouts, then the
    /// browser's crypto with no server. Without `only`'s scenarios, a stage is left out with its
    /// server start.
    public var stages: [Stage] {
        let all = [
            Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S1", "S1-e2e"], interleaved: true),
            Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S2-10k", "S2-20k", "S4"]),
            Stage(workers: 2, freshServerPerRun: true, scenarioIDs: ["S3"]),
            Stage(workers: 1, freshServerPerRun: false, scenarioIDs: ["S5-S1-w1", "S5-S2-w1"]),
            Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S1-tls", "S4-tls", "S4-tls-resumed"], tls: true),
            Stage(workers: 2, freshServerPerRun: true, scenarioIDs: ["S3-tls"], tls: true),
            Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S1-tls-compact"], tls: true, settings: ["ECHO_TLS_RECORDS": "compact"]),
            Stage(workers: 2, freshServerPerRun: true, scenarioIDs: ["S3-tls-compact"], tls: true, settings: ["ECHO_TLS_RECORDS": "compact"]),
            Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S6"], serverPerLayout: true),
            Stage(workers: 0, freshServerPerRun: false, scenarioIDs: ["E2E-browser"], needsServer: false),
        ]
        guard let only else { return all }
        return all.compactMap { stage in
            var stage = stage
            stage.scenarioIDs.removeAll { !only.contains($0) }
            return stage.scenarioIDs.isEmpty ? nil : stage
        }
    }
}
