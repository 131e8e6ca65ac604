@testable import EchoBenchKit
import Testing

/// Issue 14 in `echo-bench suite`: S1 in encrypted rooms beside plain S1, and the page's crypto
/// cost in Chromium read from its script and rendered.
@Suite("echo-bench suite: end-to-end encryption rows")
struct BenchEncryptionSuiteTests {
    // MARK: suite plan

    @Test func s1EncryptedRunsS1sLoadInEncryptedRoomsRightAfterS1() throws {
        let plan = BenchSuitePlan(quick: false)
        let s1 = try #require(plan.scenario("S1"))
        let e2e = try #require(plan.scenario("S1-e2e"))
        guard case .generator(let plain) = s1.load else {
            Issue.record("S1 is not a generator load")
            return
        }
        #expect(e2e.load == .generator(plain + ["--encrypted"]))
        #expect(e2e.workers == 2 && !e2e.tls)
        #expect(e2e.commandLine.hasPrefix("echo-bench fanout --connections 100 --rooms 1 --window 4 --message-size 100 --duration 10 --warmup 2 --encrypted --url ws://"))
        // Same server as S1, their runs alternating.
        #expect(plan.stages.first == BenchSuitePlan.Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S1", "S1-e2e"], interleaved: true))
        #expect(plan.stages.filter(\.interleaved).count == 1)
        #expect(BenchSuitePlan(quick: true, only: ["S1-e2e"]).stages == [
            BenchSuitePlan.Stage(workers: 2, freshServerPerRun: false, scenarioIDs: ["S1-e2e"], interleaved: true),
        ])
    }

    @Test func theBrowserRowRunsItsScriptWithoutAServer() throws {
        let plan = BenchSuitePlan(quick: false)
        let browser = try #require(plan.scenario("E2E-browser"))
        #expect(browser.load == .browserCrypto(script: "scripts/bench_e2e_browser.py"))
        #expect(browser.commandLine.hasPrefix("python3 scripts/bench_e2e_browser.py "))
        #expect(plan.stages.last == BenchSuitePlan.Stage(workers: 0, freshServerPerRun: false, scenarioIDs: ["E2E-browser"], needsServer: false))
        #expect(plan.stages.dropLast().allSatisfy { $0.needsServer })
        #expect(BenchSuitePlan(quick: true, only: ["E2E-browser"]).stages.map(\.needsServer) == [false])
    }

    // MARK: the browser's figures

    static let scriptOutput = #"{"image_encrypt_ms": 41.26, "image_decrypt_ms": 38, "history_encrypt_ms": 55.5, "history_decrypt_ms": 61.04, "runs": 5, "chromium": "131.0.6778.85"}"#

    @Test func theScriptsJSONIsReadFromItsLastObjectLine() throws {
        let parsed = try BenchBrowserCrypto.parse(output: "serving web/ on 127.0.0.1:41234\n\(Self.scriptOutput)\n")
        #expect(parsed == BenchBrowserCrypto(
            imageEncryptMilliseconds: 41.26, imageDecryptMilliseconds: 38, historyEncryptMilliseconds: 55.5, historyDecryptMilliseconds: 61.04,
            runs: 5, chromium: "131.0.6778.85"))
    }

    @Test(arguments: [
        ("", "it printed no JSON object"),
        ("Traceback (most recent call last):\n  ...", "it printed no JSON object"),
        (#"{"image_encrypt_ms": 1, "image_decrypt_ms": 1, "history_encrypt_ms": 1, "runs": 5, "chromium": "1"}"#, "its JSON is not"),
        (#"{"image_encrypt_ms": -1, "image_decrypt_ms": 1, "history_encrypt_ms": 1, "history_decrypt_ms": 1, "runs": 5, "chromium": "1"}"#, "negative"),
        (#"{"image_encrypt_ms": 1, "image_decrypt_ms": 1, "history_encrypt_ms": 1, "history_decrypt_ms": 1, "runs": 0, "chromium": "1"}"#, "fewer than one run"),
    ])
    func badScriptOutputSaysWhatIsWrong(output: String, reason: String) {
        do {
            _ = try BenchBrowserCrypto.parse(output: output)
            Issue.record("\(output) was read as the script's figures")
        } catch {
            #expect(error.description.contains(reason), "\(error)")
        }
    }

    // MARK: report

    @Test func theReportShowsS1PlainAndEncryptedSideBySideAndTheBrowsersCost() throws {
        let crypto = try BenchBrowserCrypto.parse(output: Self.scriptOutput)
        let results: [String: [BenchReport]] = [
            "S1": [BenchSuiteTests.fanout(rate: 1_500_000, serverCores: 1.25)],
            "S1-e2e": [BenchSuiteTests.fanout(rate: 1_200_000, p99Microseconds: 6000, serverCores: 1.3)],
        ]
        let report = BenchSuiteReport(
            plan: BenchSuitePlan(quick: false), machine: BenchSuiteTests.machine, generatedAt: "now", results: results, workDirectory: "/tmp/e",
            browserCrypto: .measured(crypto))
        let text = report.markdown()
        #expect(text.contains("## End-to-end encryption (issue 14)\n\n| figure (median) | S1 plain | S1 encrypted | encrypted / plain |\n"))
        #expect(text.contains("| deliveries/s | 1,500,000 | 1,200,000 | 0.80 × |"))
        #expect(text.contains("| latency p50 | 1.00 ms | 1.00 ms | 1.00 × |"))
        #expect(text.contains("| latency p99 | 5.00 ms | 6.00 ms | 1.20 × |"))
        #expect(text.contains("| lost | 0 | 0 |  |"))
        #expect(text.contains("| server CPU (cores) | 1.25 | 1.30 | 1.04 × |"))
        #expect(text.contains("a 3 MiB image encrypts in 41.3 ms and decrypts in 38.0 ms; a 1,000-message history decrypts in 61.0 ms."))
        // E2E-browser's own section: the table and its one-line explanation.
        let section = try #require(text.components(separatedBy: "## End-to-end encryption in Chromium: ").last)
        #expect(section.contains("| in Chromium (median of 5 runs) | time | per message |"))
        #expect(section.contains("| encrypt a 3 MiB image | 41.3 ms | |"))
        #expect(section.contains("| decrypt a 3 MiB image | 38.0 ms | |"))
        #expect(section.contains("| encrypt 1,000 history messages (~100-byte texts) | 55.5 ms | 56 µs |"))
        #expect(section.contains("| decrypt 1,000 history messages (~100-byte texts) | 61.0 ms | 61 µs |"))
        #expect(section.contains("headless Chromium 131.0.6778.85"))
        // The S1 encrypted section has its own full table.
        #expect(text.contains("## S1 in end-to-end encrypted rooms: 1 room × 100 members"))
        #expect(text.contains("| deliveries/s | 1,200,000 | 1,200,000 | 1,200,000 | 0.0 % |"))
    }

    @Test func aBrowserRowThatCouldNotRunSaysWhy() {
        let reason = "no Chromium at /usr/bin/chromium (ECHO_CHROMIUM; Debian: apt-get install -y chromium)"
        let report = BenchSuiteReport(
            plan: BenchSuitePlan(quick: true, only: ["E2E-browser"]), machine: BenchSuiteTests.machine, generatedAt: "now", results: [:],
            workDirectory: "/tmp/e", browserCrypto: .notMeasured(reason: reason))
        let text = report.markdown()
        #expect(text.contains("`python3 scripts/bench_e2e_browser.py (the repository's .venv/bin/python3 when there is one; Chromium: $ECHO_CHROMIUM or /usr/bin/chromium)`\n\nNot measured: \(reason).\n"))
        #expect(text.contains("The page's crypto cost in Chromium (E2E-browser) was not measured: \(reason)."))
        #expect(text.contains("| deliveries/s | n/a | n/a | n/a |"))
        // Without a run at all, the row is like any other scenario that was not asked for.
        let none = BenchSuiteReport(plan: BenchSuitePlan(quick: true), machine: BenchSuiteTests.machine, generatedAt: "now", results: [:], workDirectory: "/tmp/e")
        #expect(none.markdown().contains("or /usr/bin/chromium)`\n\n_No successful run._\n"))
    }
}
