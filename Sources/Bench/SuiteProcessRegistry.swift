import NIOConcurrencyHelpers

/// Every ``SuiteProcess`` still running, so the suite can stop them all however it ends.
final class SuiteProcessRegistry: Sendable {
    static let shared = SuiteProcessRegistry()
    /// In start order.
    private let running = NIOLockedValueBox<[SuiteProcess]>([])

    func add(_ process: SuiteProcess) { running.withLockedValue { $0.append(process) } }
    func remove(_ process: SuiteProcess) { running.withLockedValue { $0.removeAll { $0 === process } } }

    /// Stops the most recently started first: generators before the server, the server before Redis.
    func stopAll() {
        for process in running.withLockedValue({ $0 }).reversed() { process.stop() }
    }
}
